import BCTModelRepository
import Foundation
import Testing

@Suite("safetensors")
struct SafetensorsTests {
  @Test("round-trips tensors and metadata; header padded to 8 bytes")
  func roundTrip() throws {
    let tensors = [
      "0.weight": Safetensors.Tensor(shape: [2, 3], values: [1, -2, 3.5, 0, .leastNonzeroMagnitude, 6]),
      "0.bias": Safetensors.Tensor(shape: [2], values: [0.25, -0.75]),
    ]
    let bytes = Safetensors.encode(tensors, metadata: ["format": "pt"])
    let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
    #expect(headerLength % 8 == 0)
    #expect(bytes.count == 8 + headerLength + 8 * 4)
    let decoded = try Safetensors.decode(bytes)
    #expect(decoded.tensors == tensors)
    #expect(decoded.metadata == ["format": "pt"])
  }

  @Test("reads a file laid out as Python's safetensors writes it")
  func pythonLayout() throws {
    let header = #"{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"__metadata__":{"format":"pt"}}  "#
    var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) } + Array(header.utf8)
    bytes += withUnsafeBytes(of: Float(2).bitPattern.littleEndian) { Array($0) }
    bytes += withUnsafeBytes(of: Float(-1).bitPattern.littleEndian) { Array($0) }
    let decoded = try Safetensors.decode(bytes)
    #expect(decoded.tensors["a"] == Safetensors.Tensor(shape: [], values: [2]))
    #expect(decoded.tensors["b"] == Safetensors.Tensor(shape: [1], values: [-1]))
  }

  @Test("refuses malformed files with a reason")
  func malformed() {
    func header(_ json: String, data: Int) -> [UInt8] {
      withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { Array($0) } + Array(json.utf8) + [UInt8](repeating: 0, count: data)
    }
    let cases: [([UInt8], String)] = [
      ([1, 2, 3], "8-byte header length"),
      ([255, 0, 0, 0, 0, 0, 0, 0, 0], "exceeds the file"),
      (header("[1,2]", data: 0), "not a JSON object"),
      (header(#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: 4), "only F32"),
      (header(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: 4), "outside the 4-byte data"),
      (header(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8), "wrong size"),
      (header(#"{"w":{"dtype":"F32"}}"#, data: 0), "lacks dtype, shape or data_offsets"),
    ]
    for (bytes, reason) in cases {
      #expect { try Safetensors.decode(bytes) } throws: { "\($0)".contains(reason) }
    }
  }
}
