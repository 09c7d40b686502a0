/// Ids by label and labels by id, compactly: each label's id in an array (nil: a
/// free label), and an open-addressed table of labels hashed by their ids, 4 bytes a
/// slot and at most 3/4 full, where a dictionary would hold a 16-byte string and an
/// 8-byte label per slot. Linear probing; removal shifts the following run back, so
/// there are no tombstones.
struct LabelTable: Sendable {
  /// Each label's id; nil for a free label.
  private(set) var ids: [String?] = []
  private var slots: [UInt32] = []
  /// Labels that hold an id.
  private(set) var count = 0

  private static let empty = UInt32.max

  /// The label holding `id`, or nil.
  func label(of id: String) -> Int? {
    guard !slots.isEmpty else { return nil }
    let mask = slots.count - 1
    var i = home(id, mask: mask)
    while slots[i] != Self.empty {
      if ids[Int(slots[i])] == id { return Int(slots[i]) }
      i = (i + 1) & mask
    }
    return nil
  }

  /// A new free label after the last; room for `more` further labels is made at once.
  mutating func appendLabel(reserving more: Int) -> Int {
    let needed = ids.count + 1 + max(0, more)
    if ids.capacity < needed { ids.reserveCapacity(max(needed, ids.capacity + ids.capacity / 4)) }
    precondition(ids.count < Int(Self.empty), "a segment holds at most \(Self.empty - 1) labels")
    ids.append(nil)
    return ids.count - 1
  }

  /// Gives free `label` to `id`, which no label holds.
  mutating func assign(_ id: String, to label: Int) {
    precondition(ids[label] == nil, "label \(label) is taken")
    if (count + 1) * 4 > slots.count * 3 { rehash(slots: max(16, slots.count * 2)) }
    ids[label] = id
    let mask = slots.count - 1
    var i = home(id, mask: mask)
    while slots[i] != Self.empty { i = (i + 1) & mask }
    slots[i] = UInt32(label)
    count += 1
  }

  /// Frees the label holding `id` and returns it; nil when no label holds `id`.
  mutating func remove(_ id: String) -> Int? {
    guard !slots.isEmpty else { return nil }
    let mask = slots.count - 1
    var i = home(id, mask: mask)
    while slots[i] != Self.empty, ids[Int(slots[i])] != id { i = (i + 1) & mask }
    guard slots[i] != Self.empty else { return nil }
    let label = Int(slots[i])
    var j = i
    while true {
      j = (j + 1) & mask
      guard slots[j] != Self.empty else { break }
      let k = home(ids[Int(slots[j])]!, mask: mask)
      // Slot j's entry may move back to i when its home is not in (i, j], cyclically.
      let stays = i <= j ? (i < k && k <= j) : (i < k || k <= j)
      if !stays {
        slots[i] = slots[j]
        i = j
      }
    }
    slots[i] = Self.empty
    ids[label] = nil
    count -= 1
    return label
  }

  /// Bytes held: the id array, the slots, and the characters of ids too long to be
  /// stored inside their string (over 15 UTF-8 bytes: a heap buffer each).
  var bytes: Int {
    var heap = 0
    for case let id? in ids where id.utf8.count > 15 { heap += 32 + (id.utf8.count + 15) / 16 * 16 }
    return ids.capacity * MemoryLayout<String?>.stride + slots.capacity * MemoryLayout<UInt32>.stride + heap
  }

  private func home(_ id: String, mask: Int) -> Int {
    Int(UInt(bitPattern: id.hashValue) & UInt(mask))
  }

  private mutating func rehash(slots size: Int) {
    slots = [UInt32](repeating: Self.empty, count: size)
    let mask = size - 1
    for (label, id) in ids.enumerated() {
      guard let id else { continue }
      var i = home(id, mask: mask)
      while slots[i] != Self.empty { i = (i + 1) & mask }
      slots[i] = UInt32(label)
    }
  }
}
