/// Where training and test data come from: a named built-in dataset or four files.
public enum DataSource: Sendable, Equatable {
  /// Fashion-MNIST as installed by Debian's `dataset-fashion-mnist` (or another folder
  /// holding the same four `*-idx*-ubyte.gz` files).
  case fashionMNIST(directory: String)
  /// User-supplied IDX or `.npy` files.
  case files(trainImages: String, trainLabels: String, testImages: String, testLabels: String)

  /// Debian's install location for Fashion-MNIST.
  public static let debianFashionMNIST = "/usr/share/datasets/fashion-mnist"

  /// Which split of a source.
  public enum Split: String, Sendable { case train, test }

  /// A short name for manifests and reports.
  public var name: String {
    switch self {
    case .fashionMNIST: return "fashion-mnist"
    case .files(let trainImages, _, _, _): return "files:\(trainImages)"
    }
  }

  /// Loads one split.
  public func load(_ split: Split) throws -> Dataset {
    switch self {
    case .fashionMNIST(let directory):
      let prefix = split == .train ? "train" : "t10k"
      let images = "\(directory)/\(prefix)-images-idx3-ubyte.gz"
      let labels = "\(directory)/\(prefix)-labels-idx1-ubyte.gz"
      do {
        return try Dataset.load(images: images, labels: labels, name: "fashion-mnist/\(split.rawValue)")
      } catch let error as DataError where error.reason.hasPrefix("cannot open") {
        throw DataError(
          path: error.path,
          "\(error.reason); install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass --train-images/--train-labels/--test-images/--test-labels")
      }
    case .files(let trainImages, let trainLabels, let testImages, let testLabels):
      return split == .train
        ? try Dataset.load(images: trainImages, labels: trainLabels, name: "train")
        : try Dataset.load(images: testImages, labels: testLabels, name: "test")
    }
  }
}
