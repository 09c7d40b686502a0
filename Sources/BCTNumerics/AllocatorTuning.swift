#if canImport(CMalloc)
import CMalloc
#endif

/// Process-level allocator settings for numeric work.
public enum AllocatorTuning {
  /// Keeps large freed buffers in the heap instead of returning them to the
  /// kernel: training allocates the same tens-of-megabyte activations every
  /// batch, and glibc's default mmap/munmap round trip for each one costs about
  /// a third of a CNN epoch in page faults. Call once at process start.
  public static func retainLargeBuffers() {
    #if canImport(CMalloc)
    _ = mallopt(M_MMAP_THRESHOLD, Int32.max / 2)
    _ = mallopt(M_TRIM_THRESHOLD, Int32.max)
    _ = mallopt(M_TOP_PAD, 512 << 20)
    #endif
  }
}
