@testable import BCTIndex
import BCTNumerics
import Testing

@Suite("Label table")
struct LabelTableTests {
  @Test("agrees with a dictionary through 20,000 random assigns and removals, collisions and wrap-around included")
  func agreesWithDictionary() {
    var generator = SeededGenerator(seed: 21)
    var table = LabelTable()
    var expected: [String: Int] = [:]
    var free: [Int] = []
    for step in 0..<20_000 {
      let id = "id-\(Int.random(in: 0..<3_000, using: &generator))"
      if let label = expected[id], Bool.random(using: &generator) {
        #expect(table.remove(id) == label)
        expected[id] = nil
        free.append(label)
      } else if expected[id] == nil {
        let label = free.popLast() ?? table.appendLabel(reserving: 0)
        table.assign(id, to: label)
        expected[id] = label
      }
      if step % 1_000 == 0 || step == 19_999 {
        #expect(table.count == expected.count)
        #expect(expected.allSatisfy { table.label(of: $0.key) == $0.value && table.ids[$0.value] == $0.key })
        #expect(table.label(of: "never-seen") == nil && table.remove("never-seen") == nil)
      }
    }
    #expect(table.ids.compactMap { $0 }.count == expected.count)
  }

  @Test("an empty table answers nil; a 17-character id counts its heap buffer")
  func emptyAndBytes() {
    var table = LabelTable()
    #expect(table.label(of: "a") == nil && table.remove("a") == nil && table.count == 0)
    let short = table.bytes
    table.assign("a-seventeen-chars", to: table.appendLabel(reserving: 0))
    #expect(table.bytes >= short + 16 + 16 * 4 + 32)
  }
}
