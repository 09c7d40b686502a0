import BCTTensor
import BCTCollection
import BCTData
import BCTModelRepository
import BCTProto
import BCTRetrieval
import BCTServing
import Foundation

/// libFuzzer targets for the pure decoders that read bytes from clients or from
/// disk: request tensors, write-ahead-log records, snapshots, safetensors, npy,
/// IDX (and gzip). The first input byte picks the decoder. A decoder may throw
/// on bad bytes; it must never trap, hang or read out of bounds.
///
/// Built with `scripts/fuzz-decoders.sh` (`-sanitize=fuzzer,address -D FUZZING`),
/// this is a libFuzzer binary. Built normally, it replays files (a corpus or the
/// regression inputs in Tests/FuzzCorpus) through the same function.
enum DecoderFuzz {
  static func run(_ bytes: [UInt8]) {
    guard let selector = bytes.first else { return }
    let body = Array(bytes.dropFirst())
    switch selector % 7 {
    case 0:
      guard let tensor = try? Bct_V1_Tensor(serializedBytes: body) else { return }
      for rowShape in [[1, 28, 28], [128], [8], [0]] { _ = try? TensorCodec.decodeBatch(tensor, rowShape: rowShape, what: "fuzz") }
    case 1:
      _ = try? Mutation.decode(body)
    case 2:
      if let state = try? CollectionState.decode(body) { _ = state.encoded() }
    case 3:
      _ = try? Safetensors.decode(body)
    case 4:
      _ = try? NPY.decode(body)
    case 5:
      _ = try? IDX.decode(body)
    default:
      if let inflated = try? Gzip.decompress(body) { _ = try? IDX.decode(inflated) }
    }
  }
}

#if FUZZING
/// libFuzzer's entry point; libFuzzer supplies `main` (the script links it by hand).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  DecoderFuzz.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
  return 0
}
#else
@main
struct ReplayDecoders {
  /// Replays every file named (or every file in every folder named) through the decoders.
  static func main() throws {
    var count = 0
    for argument in CommandLine.arguments.dropFirst() {
      let url = URL(fileURLWithPath: argument)
      var isFolder: ObjCBool = false
      FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder)
      let files = isFolder.boolValue
        ? try FileManager.default.contentsOfDirectory(at: url, includingPropertiesForKeys: nil).sorted { $0.path < $1.path }
        : [url]
      for file in files {
        DecoderFuzz.run([UInt8](try Data(contentsOf: file)))
        count += 1
      }
    }
    print("replayed \(count) inputs through the decoders")
  }
}
#endif
