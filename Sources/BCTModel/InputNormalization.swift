import BCTNumerics

/// Maps raw input values to what a backbone sees: `x' = (x * scale - mean) / std`.
public struct InputNormalization: Sendable, Equatable, Codable {
  /// Multiplier applied first (1/255 for 8-bit pixels).
  public var scale: Float
  /// Subtracted after scaling.
  public var mean: Float
  /// Divisor applied last.
  public var std: Float

  public init(scale: Float, mean: Float, std: Float) {
    self.scale = scale
    self.mean = mean
    self.std = std
  }

  /// Fashion-MNIST's pixel statistics.
  public static let fashionMNIST = InputNormalization(scale: 1.0 / 255.0, mean: 0.2860, std: 0.3530)

  /// The map as one multiply-add, `x' = x * slope + offset`.
  public var slope: Float { scale / std }
  /// See `slope`.
  public var offset: Float { -mean / std }

  /// The normalised copy of `raw`.
  public func apply(_ raw: Matrix) -> Matrix {
    let (a, b) = (slope, offset)
    var out = raw
    out.values.withUnsafeMutableBufferPointer { v in
      for i in 0..<v.count { v[i] = v[i] * a + b }
    }
    return out
  }
}
