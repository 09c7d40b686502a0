import ArgumentParser
import BCTData

/// Where training and test data come from (shared by train, eval and demo).
struct DataOptions: ParsableArguments {
  @Option(help: "Built-in dataset (fashion-mnist).")
  var dataset: String = "fashion-mnist"

  @Option(help: "Folder with the built-in dataset's files.")
  var dataDir: String = DataSource.debianFashionMNIST

  @Option(help: "Training images (IDX or .npy, optionally gzipped); with the three options below, replaces --dataset.")
  var trainImages: String?

  @Option(help: "Training labels (IDX or .npy).")
  var trainLabels: String?

  @Option(help: "Test images (IDX or .npy).")
  var testImages: String?

  @Option(help: "Test labels (IDX or .npy).")
  var testLabels: String?

  func validate() throws {
    let files = [trainImages, trainLabels, testImages, testLabels]
    let given = files.compactMap { $0 }.count
    guard given == 0 || given == 4 else {
      throw ValidationError("--train-images, --train-labels, --test-images and --test-labels go together: give all four or none")
    }
    guard given == 4 || dataset == "fashion-mnist" else {
      throw ValidationError("unknown --dataset \"\(dataset)\"; the built-in dataset is fashion-mnist, or give the four file options")
    }
  }

  var source: DataSource {
    if let trainImages, let trainLabels, let testImages, let testLabels {
      return .files(trainImages: trainImages, trainLabels: trainLabels, testImages: testImages, testLabels: testLabels)
    }
    return .fashionMNIST(directory: dataDir)
  }
}

/// Parses a class list such as "0-4", "0,2,5" or "0-2,7".
func parseClasses(_ text: String) throws -> [Int] {
  var classes: [Int] = []
  for part in text.split(separator: ",") {
    let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
    if bounds.count == 1, let value = Int(bounds[0]), value >= 0 {
      classes.append(value)
    } else if bounds.count == 2, let low = Int(bounds[0]), let high = Int(bounds[1]), low >= 0, low <= high {
      classes.append(contentsOf: low...high)
    } else {
      throw ValidationError("--classes \"\(text)\" is not a list like 0-4 or 0,2,5")
    }
  }
  guard !classes.isEmpty else { throw ValidationError("--classes is empty") }
  return Array(Set(classes)).sorted()
}
