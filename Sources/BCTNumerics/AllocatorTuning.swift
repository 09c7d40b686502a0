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

  /// For a long-running service whose large structures come and go (a version's
  /// index segment, a shadow copy, a snapshot's payload): buffers of 4 MiB or more
  /// are mapped on their own and unmapped when freed (glibc otherwise raises that
  /// threshold to the largest buffer freed so far, after which such buffers come
  /// from the heap and the process keeps its peak); smaller ones, such as a
  /// search's score buffers, stay in the heap and are reused. Two heaps (arenas)
  /// at most, so freed memory is not spread over one heap per thread that ever
  /// allocated. Call once at process start; `trim` after large drops.
  public static func returnFreedMemory() {
    #if canImport(CMalloc)
    _ = mallopt(M_MMAP_THRESHOLD, 4 << 20)
    _ = mallopt(M_TRIM_THRESHOLD, 4 << 20)
    _ = mallopt(M_ARENA_MAX, 2)
    #endif
  }

  /// Gives the heap's free pages back to the kernel, after a large structure was dropped.
  public static func trim() {
    #if canImport(CMalloc)
    _ = malloc_trim(0)
    #endif
  }
}
