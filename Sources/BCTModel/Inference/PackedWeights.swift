import CKernels

/// A weight matrix laid out once by `ck_pack_weights` in 64-byte-aligned memory.
///
/// The kernel reads each 32-output panel row with two 64-byte loads; where the
/// panels start off a cache-line boundary (Swift arrays start wherever `malloc` put
/// them) every one of those loads spans two lines.
final class PackedWeights: @unchecked Sendable {
  /// Cache-line alignment of every allocation here.
  static let alignment = 64

  private let storage: UnsafeMutablePointer<Float>

  /// The packed values; immutable after `init`.
  var values: UnsafePointer<Float> { UnsafePointer(storage) }

  /// Packs row-major `outputs x inputs` weights; nil where the CPU lacks AVX-512
  /// (`ck_packed_gemm` needs it).
  init?(_ weights: [Float], outputs: Int, inputs: Int) {
    guard ck_packed_gemm_available() != 0 else { return nil }
    precondition(weights.count == outputs * inputs, "weights hold \(weights.count) values, expected \(outputs * inputs)")
    storage = alignedFloats(ck_packed_size(outputs, inputs))
    ck_pack_weights(weights, outputs, inputs, storage)
  }

  deinit { UnsafeMutableRawPointer(storage).deallocate() }
}

/// Uninitialised memory for `count` floats (at least one) starting on a cache line;
/// free it with `UnsafeMutableRawPointer(pointer).deallocate()`.
func alignedFloats(_ count: Int) -> UnsafeMutablePointer<Float> {
  UnsafeMutableRawPointer.allocate(
    byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: PackedWeights.alignment
  ).bindMemory(to: Float.self, capacity: max(count, 1))
}
