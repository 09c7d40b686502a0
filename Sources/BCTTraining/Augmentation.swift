import BCTNumerics

/// Simple label-preserving image augmentations for the InfoNCE views: a random
/// shift of up to `maxShift` pixels (zero fill) and a random horizontal flip.
public struct Augmentation: Sendable {
  /// Largest shift in pixels, each direction.
  public var maxShift: Int = 2
  /// Probability of a horizontal flip.
  public var flipProbability: Float = 0.5

  public init(maxShift: Int = 2, flipProbability: Float = 0.5) {
    self.maxShift = maxShift
    self.flipProbability = flipProbability
  }

  /// An augmented copy of raw images `[N, C*H*W]` of `shape` `[C, H, W]`.
  public func apply(_ images: Matrix, shape: [Int], using generator: inout SeededGenerator) -> Matrix {
    guard shape.count == 3 else { return images }
    let (channels, height, width) = (shape[0], shape[1], shape[2])
    var out = Matrix(rows: images.rows, columns: images.columns)
    let span = UInt64(2 * maxShift + 1)
    for n in 0..<images.rows {
      let dy = Int(generator.next() % span) - maxShift
      let dx = Int(generator.next() % span) - maxShift
      let flip = generator.nextUniform() < flipProbability
      for c in 0..<channels {
        let base = n * images.columns + c * height * width
        for y in 0..<height {
          let sy = y - dy
          guard sy >= 0 && sy < height else { continue }
          for x in 0..<width {
            var sx = x - dx
            if flip { sx = width - 1 - sx }
            guard sx >= 0 && sx < width else { continue }
            out.values[base + y * width + x] = images.values[base + sy * width + sx]
          }
        }
      }
    }
    return out
  }
}
