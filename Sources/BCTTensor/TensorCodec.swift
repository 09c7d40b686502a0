import BCTNumerics
import BCTProto
import Foundation
import GRPCCore

/// The one codec between the wire `bct.v1.Tensor` and `Matrix`, used by the CLI,
/// the clients and both services: encoding (packed `float32_le` bytes), and
/// decoding either form with the validation every service applies to incoming tensors.
public enum TensorCodec {
  /// Decodes a batch tensor of shape `[N, ...rowShape]` into an `N x prod(rowShape)`
  /// matrix, or throws INVALID_ARGUMENT saying what is wrong and what was expected.
  ///
  /// - Parameters:
  ///   - tensor: The tensor as received.
  ///   - rowShape: The shape of one row (e.g. `[1, 28, 28]` for an image, `[128]` for an embedding).
  ///   - what: How the message names the tensor, e.g. "inputs".
  public static func decodeBatch(_ tensor: Bct_V1_Tensor, rowShape: [Int], what: String) throws -> Matrix {
    let shape = tensor.shape
    let expected = "[N, \(rowShape.map(String.init).joined(separator: ", "))]"
    guard !shape.isEmpty else {
      throw RPCError(code: .invalidArgument, message: "\(what): missing shape; expected \(expected)")
    }
    guard shape.allSatisfy({ $0 >= 1 }) else {
      throw RPCError(code: .invalidArgument, message: "\(what): shape \(shape) has a dimension below 1; an empty batch is not allowed, expected \(expected)")
    }
    guard shape.count == rowShape.count + 1, zip(shape.dropFirst(), rowShape).allSatisfy({ Int($0) == $1 }) else {
      throw RPCError(code: .invalidArgument, message: "\(what): shape \(shape) does not match \(expected)")
    }
    guard let width = checkedProduct(rowShape), let count = checkedProduct(shape.map(Int.init)) else {
      throw RPCError(code: .invalidArgument, message: "\(what): shape \(shape) is too large; expected \(expected)")
    }
    let rows = Int(shape[0])
    let values: [Float]
    switch (tensor.values.isEmpty, tensor.float32Le.isEmpty) {
    case (false, false):
      throw RPCError(code: .invalidArgument, message: "\(what): both values and float32_le are set; send exactly one")
    case (true, true):
      throw RPCError(code: .invalidArgument, message: "\(what): no data; set values or float32_le with \(count) elements for shape \(shape)")
    case (false, true):
      values = tensor.values
    case (true, false):
      guard tensor.float32Le.count % 4 == 0 else {
        throw RPCError(code: .invalidArgument, message: "\(what): float32_le holds \(tensor.float32Le.count) bytes, not a multiple of 4")
      }
      values = littleEndianFloats(tensor.float32Le)
    }
    guard values.count == count else {
      throw RPCError(code: .invalidArgument, message: "\(what): \(values.count) elements for shape \(shape), expected \(count)")
    }
    if let bad = values.firstIndex(where: { !$0.isFinite }) {
      throw RPCError(code: .invalidArgument, message: "\(what): element \(bad) (row \(bad / max(width, 1))) is \(values[bad]); NaN and Inf are not allowed")
    }
    return Matrix(rows: rows, columns: width, values: values)
  }

  /// Every element of `tensor`, whatever its shape, validated as `decodeBatch` does.
  public static func values(of tensor: Bct_V1_Tensor, what: String) throws -> [Float] {
    try decodeBatch(tensor, rowShape: tensor.shape.dropFirst().map { Int(clamping: $0) }, what: what).values
  }

  /// Decodes a batch whose rows are of `rowShape` or flattened to its element
  /// count (`[N, prod(rowShape)]`), so that a client can send inputs without
  /// knowing which version, and so which shape, the server will choose.
  public static func decodeRows(_ tensor: Bct_V1_Tensor, rowShape: [Int], what: String) throws -> Matrix {
    if tensor.shape.count == 2, rowShape.count > 1, let width = checkedProduct(rowShape), tensor.shape[1] == Int64(width) {
      return try decodeBatch(tensor, rowShape: [width], what: what)
    }
    return try decodeBatch(tensor, rowShape: rowShape, what: what)
  }

  /// The product of `dimensions`, or nil when one is negative or the product
  /// overflows (a shape from a request or a file is never multiplied out unchecked).
  public static func checkedProduct(_ dimensions: [Int]) -> Int? {
    var product = 1
    for d in dimensions {
      guard d >= 0 else { return nil }
      let (next, overflow) = product.multipliedReportingOverflow(by: d)
      guard !overflow else { return nil }
      product = next
    }
    return product
  }

  /// Bytes of element data a tensor carries.
  public static func payloadBytes(_ tensor: Bct_V1_Tensor) -> Int {
    tensor.values.count * 4 + tensor.float32Le.count
  }

  /// Throws RESOURCE_EXHAUSTED when `bytes` of request data exceed `limit`.
  public static func checkPayload(bytes: Int, limit: Int) throws {
    guard bytes <= limit else {
      throw RPCError(code: .resourceExhausted, message: "request carries \(bytes) bytes of tensor data, over the server's limit of \(limit) bytes (--max-message-bytes); send smaller batches")
    }
  }

  /// Encodes `matrix` as a `[rows, columns]` tensor with packed values.
  public static func encode(_ matrix: Matrix) -> Bct_V1_Tensor {
    var tensor = Bct_V1_Tensor()
    tensor.shape = [Int64(matrix.rows), Int64(matrix.columns)]
    tensor.values = matrix.values
    return tensor
  }

  /// Encodes `matrix` as a tensor of the given shape (whose product must match).
  public static func encode(_ matrix: Matrix, shape: [Int]) -> Bct_V1_Tensor {
    precondition(shape.reduce(1, *) == matrix.values.count, "shape \(shape) does not fit \(matrix.values.count) values")
    var tensor = Bct_V1_Tensor()
    tensor.shape = shape.map(Int64.init)
    tensor.values = matrix.values
    return tensor
  }

  /// `values` as little-endian float32 bytes (`float32_le`): one copy, the
  /// cheapest form to send.
  public static func littleEndianBytes(_ values: [Float]) -> Data {
    #if _endian(little)
    return values.withUnsafeBytes { Data($0) }
    #else
    var data = Data(capacity: values.count * 4)
    for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
    return data
    #endif
  }

  /// Reads little-endian float32 bytes.
  public static func littleEndianFloats(_ data: Data) -> [Float] {
    let count = data.count / 4
    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      data.withUnsafeBytes { raw in
        for i in 0..<count {
          buffer[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
      }
      initialized = count
    }
  }
}
