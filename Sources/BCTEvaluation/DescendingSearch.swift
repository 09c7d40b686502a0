/// How many leading values of `descending` (sorted high to low) are at least `x`:
/// a branch-free binary search, since which way each step goes is unpredictable and
/// a mispredicted branch costs more than the comparison.
@inline(__always)
func countAtLeast(_ x: Float, in descending: UnsafeBufferPointer<Float>) -> Int {
  var n = descending.count
  guard n > 0 else { return 0 }
  var base = 0
  while n > 1 {
    let half = n >> 1
    base = descending[base + half] >= x ? base + half : base
    n -= half
  }
  return base + (descending[base] >= x ? 1 : 0)
}
