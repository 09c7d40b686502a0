import BCTData
import BCTNumerics
import Testing

@Suite("Validation split")
struct ValidationSplitTests {
  @Test("validation and training indices are disjoint, cover every example, and depend only on the seed")
  func disjoint() {
    for count in [2, 10, 1000, 60_000] {
      let (train, validation) = Dataset.validationIndices(count: count, fraction: 0.1, seed: 0)
      #expect(Set(train).isDisjoint(with: validation))
      #expect(Set(train).union(validation) == Set(0..<count))
      #expect(validation.count == max(1, Int((Double(count) * 0.1).rounded())))
      #expect(train == train.sorted() && validation == validation.sorted())
      #expect(Dataset.validationIndices(count: count, fraction: 0.1, seed: 0).validation == validation)
    }
    let other = Dataset.validationIndices(count: 1000, fraction: 0.1, seed: 1).validation
    #expect(other != Dataset.validationIndices(count: 1000, fraction: 0.1, seed: 0).validation)
    #expect(Dataset.validationIndices(count: 100, fraction: 0, seed: 0).validation.isEmpty)
  }

  @Test("class and fraction selection after the split never reach a validation example")
  func selectionAfterSplit() {
    // Each example's single input value is its index, so rows identify examples.
    let count = 500
    let data = Dataset(
      inputs: Matrix(rows: count, columns: 1, values: (0..<count).map(Float.init)), labels: (0..<count).map { $0 % 10 },
      sampleShape: [1], name: "ids")
    let (train, validation) = data.validationSplit(fraction: 0.1, seed: 7)
    let heldOut = Set(validation.inputs.values)
    #expect(validation.count == 50 && train.count == 450 && validation.name == "ids/validation")
    for subset in [train, train.keepingClasses([0, 1, 2, 3, 4]), train.fraction(0.5, seed: 0)] {
      #expect(heldOut.isDisjoint(with: subset.inputs.values))
    }
    #expect(zip(validation.inputs.values, validation.labels).allSatisfy { Int($0) % 10 == $1 }, "labels stay with their inputs")
  }
}
