import BCTNumerics

/// Labelled examples: one row of raw input values per example (e.g. 784 pixels,
/// 0-255) and an integer class label for each.
public struct Dataset: Sendable {
  /// Raw inputs, `[count, product(sampleShape)]`.
  public var inputs: Matrix
  /// Class label of each row, `0..<classCount`.
  public var labels: [Int]
  /// Shape of one example, e.g. `[1, 28, 28]`.
  public let sampleShape: [Int]
  /// Where the examples came from, e.g. "fashion-mnist/train".
  public let name: String

  public init(inputs: Matrix, labels: [Int], sampleShape: [Int], name: String) {
    precondition(inputs.rows == labels.count, "inputs and labels differ in count")
    precondition(inputs.columns == sampleShape.reduce(1, *), "sample shape does not match input width")
    self.inputs = inputs
    self.labels = labels
    self.sampleShape = sampleShape
    self.name = name
  }

  /// Number of examples.
  public var count: Int { labels.count }

  /// One more than the largest label.
  public var classCount: Int { (labels.max() ?? -1) + 1 }

  /// Reads an images file and a labels file (IDX or `.npy`, optionally gzipped).
  /// Images are `[N, H, W]`, `[N, C, H, W]` or `[N, D]`; labels are `[N]` integers >= 0.
  public static func load(images: String, labels: String, name: String? = nil) throws -> Dataset {
    let imageArray = try ArrayFile.read(path: images)
    let labelArray = try ArrayFile.read(path: labels)
    let shape = imageArray.shape
    guard shape.count >= 2, shape.count <= 4 else {
      throw DataError(path: images, "images have shape \(shape); expected [N, D], [N, H, W] or [N, C, H, W]")
    }
    let sampleShape = shape.count == 3 ? [1, shape[1], shape[2]] : Array(shape.dropFirst())
    guard labelArray.shape.count == 1 else {
      throw DataError(path: labels, "labels have shape \(labelArray.shape); expected [N]")
    }
    guard labelArray.shape[0] == shape[0] else {
      throw DataError(path: labels, "\(labelArray.shape[0]) labels for \(shape[0]) images; expected one label per image")
    }
    var classLabels: [Int] = []
    classLabels.reserveCapacity(labelArray.values.count)
    for (i, value) in labelArray.values.enumerated() {
      guard value >= 0, value == value.rounded(), value < 1_000_000 else {
        throw DataError(path: labels, "label \(i) is \(value); expected a non-negative integer")
      }
      classLabels.append(Int(value))
    }
    guard imageArray.values.allSatisfy(\.isFinite) else {
      throw DataError(path: images, "images contain NaN or infinite values")
    }
    let width = sampleShape.reduce(1, *)
    return Dataset(
      inputs: Matrix(rows: shape[0], columns: width, values: imageArray.values),
      labels: classLabels, sampleShape: sampleShape, name: name ?? images)
  }

  /// The examples at `indices`, in that order.
  public func subset(_ indices: [Int], name: String? = nil) -> Dataset {
    Dataset(inputs: inputs.gatherRows(indices), labels: indices.map { labels[$0] },
            sampleShape: sampleShape, name: name ?? self.name)
  }

  /// Only the examples whose label is in `classes`.
  public func keepingClasses(_ classes: Set<Int>) -> Dataset {
    subset(labels.indices.filter { classes.contains(labels[$0]) })
  }

  /// A fixed random `fraction` of the examples, chosen by `seed` (order kept).
  public func fraction(_ fraction: Double, seed: UInt64) -> Dataset {
    guard fraction < 1 else { return self }
    var generator = SeededGenerator(seed: seed)
    var indices = Array(0..<count)
    indices.shuffle(using: &generator)
    let keep = max(1, Int((Double(count) * fraction).rounded()))
    return subset(indices.prefix(keep).sorted())
  }

  /// Splits off a fixed, seeded validation set: `fraction` of the examples (at
  /// least one when `fraction > 0`) chosen by `seed`, and the rest for training.
  /// Both keep the original order, and no example is in both.
  public func validationSplit(fraction: Double, seed: UInt64) -> (train: Dataset, validation: Dataset) {
    let (train, validation) = Self.validationIndices(count: count, fraction: fraction, seed: seed)
    return (subset(train), subset(validation, name: "\(name)/validation"))
  }

  /// The indices of a `count`-example split: `validation` is `fraction` of them
  /// chosen by `seed`, `train` the rest, both sorted and disjoint.
  public static func validationIndices(count: Int, fraction: Double, seed: UInt64) -> (train: [Int], validation: [Int]) {
    guard fraction > 0, count > 1 else { return (Array(0..<count), []) }
    var generator = SeededGenerator(seed: seed ^ 0x5A11_DA7E)
    var indices = Array(0..<count)
    indices.shuffle(using: &generator)
    let take = min(count - 1, max(1, Int((Double(count) * fraction).rounded())))
    return (indices.dropFirst(take).sorted(), indices.prefix(take).sorted())
  }
}
