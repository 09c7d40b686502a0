import BCTProcess
import BCTProto
@testable import BCTServing
import BCTTestSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import Testing

/// gRPC server reflection: the index over the bundled schema, then both real
/// services called by grpcurl with no proto files, and by a v1 client.
@Suite("Server reflection", .serialized)
struct ReflectionTests {
  @Test("the bundled schema indexes every file, symbol kind and dependency")
  func schemaIndex() throws {
    let reflection = ReflectionService(services: ["bct.v1.Encoder"], schema: try SchemaIndex.bundled())
    var sent: Set<String> = []
    func ask(_ set: (inout Grpc_Reflection_V1_ServerReflectionRequest) -> Void) -> Grpc_Reflection_V1_ServerReflectionResponse {
      var request = Grpc_Reflection_V1_ServerReflectionRequest()
      set(&request)
      return reflection.respond(to: request, sent: &sent)
    }
    let list = ask { $0.listServices = "*" }.listServicesResponse.service.map(\.name)
    #expect(list == ["bct.v1.Encoder", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"])
    // A symbol of every kind maps to its file, sent with its dependencies first.
    for symbol in ["bct.v1.Encoder", ".bct.v1.Encoder.Embed", "bct.v1.EmbedRequest", "bct.v1.EmbedRequest.inputs",
                   "bct.v1.Normalization", "bct.v1.Retrieval.Search", "grpc.health.v1.HealthCheckResponse.ServingStatus"] {
      sent = []
      let files = ask { $0.fileContainingSymbol = symbol }.fileDescriptorResponse.fileDescriptorProto
      #expect(!files.isEmpty, "\(symbol)")
    }
    sent = []
    let encoderFiles = ask { $0.fileByFilename = "bct/v1/encoder.proto" }.fileDescriptorResponse.fileDescriptorProto
      .map { try! Google_Protobuf_FileDescriptorProto(serializedBytes: $0).name }
    #expect(encoderFiles == ["bct/v1/tensor.proto", "bct/v1/encoder.proto"])
    // Already sent on this stream: only the file asked for comes again.
    let again = ask { $0.fileByFilename = "bct/v1/encoder.proto" }.fileDescriptorResponse.fileDescriptorProto
    #expect(again.count == 1)
    let missing = ask { $0.fileContainingSymbol = "bct.v1.Nothing" }
    #expect(missing.errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
    #expect(missing.errorResponse.errorMessage.contains("bct.v1.Nothing"))
    #expect(ask { $0.fileByFilename = "nope.proto" }.errorResponse.errorCode == Int32(RPCError.Code.notFound.rawValue))
    #expect(ask { _ in }.errorResponse.errorCode == Int32(RPCError.Code.invalidArgument.rawValue))
    let numbers = ask { $0.allExtensionNumbersOfType = "bct.v1.EmbedRequest" }
    #expect(numbers.allExtensionNumbersResponse.baseTypeName == "bct.v1.EmbedRequest")
    #expect(numbers.allExtensionNumbersResponse.extensionNumber.isEmpty)
  }

  /// grpcurl from the test environment (`scripts/test-clients.sh`).
  static func grpcurl(_ arguments: [String]) async throws -> CommandResult {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let path = ProcessInfo.processInfo.environment["BCT_GRPCURL"] ?? root.appendingPathComponent(".venv-test/bin/grpcurl").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
      throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no grpcurl at \(path): run scripts/test.sh (it sources scripts/test-clients.sh)"])
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let output = out.fileHandleForReading.readDataToEndOfFile()
    let error = err.fileHandleForReading.readDataToEndOfFile()
    while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
    return CommandResult(
      status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
      error: String(decoding: error, as: UTF8.self))
  }

  @Test("grpcurl lists, describes and calls both services with no proto files")
  func grpcurlWithoutProtos() async throws {
    let encoder = try await Fixtures.startEncoder(try await Fixtures.trainedRepository())
    let retrieval = try await Fixtures.startRetrieval(
      encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("reflection"))
    defer {
      Task { await retrieval.kill9(); await encoder.kill9() }
    }
    let e = "127.0.0.1:\(encoder.port)", r = "127.0.0.1:\(retrieval.port)"

    let encoderList = try await Self.grpcurl(["-plaintext", e, "list"])
    #expect(encoderList.status == 0, "\(encoderList.error)")
    #expect(encoderList.output.split(separator: "\n").map(String.init) == [
      "bct.v1.Encoder", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection"])
    let retrievalList = try await Self.grpcurl(["-plaintext", r, "list"])
    #expect(retrievalList.output.contains("bct.v1.Retrieval\n"), "\(retrievalList.output)\(retrievalList.error)")

    let methods = try await Self.grpcurl(["-plaintext", e, "list", "bct.v1.Encoder"])
    #expect(methods.output.contains("bct.v1.Encoder.Embed") && methods.output.contains("bct.v1.Encoder.ListModels"))
    let service = try await Self.grpcurl(["-plaintext", r, "describe", "bct.v1.Retrieval"])
    #expect(service.output.contains("rpc Search ( .bct.v1.SearchRequest ) returns ( .bct.v1.SearchResponse )"),
            "\(service.output)\(service.error)")
    let message = try await Self.grpcurl(["-plaintext", e, "describe", "bct.v1.EmbedRequest"])
    #expect(message.output.contains(".bct.v1.Tensor inputs = 2;"), "\(message.output)\(message.error)")

    // An Embed call from JSON, decoded through the reflected schema.
    let pixels = (0..<784).map { String(($0 * 37) % 256) }.joined(separator: ",")
    let call = try await Self.grpcurl([
      "-plaintext", "-d", #"{"model_version": "v1", "inputs": {"shape": [1, 1, 28, 28], "values": [\#(pixels)]}}"#,
      e, "bct.v1.Encoder/Embed"])
    #expect(call.status == 0, "\(call.error)")
    let reply = try JSONSerialization.jsonObject(with: Data(call.output.utf8)) as? [String: Any]
    let embeddings = reply?["embeddings"] as? [String: Any]
    #expect(reply?["modelVersion"] as? String == "v1")
    let shape = (embeddings?["shape"] as? [Any])?.map { "\($0)" } ?? []
    #expect(shape.count == 2 && shape.first == "1")
    #expect((embeddings?["values"] as? [Any])?.count == Int(shape.last ?? "") && !shape.isEmpty)

    // A caller's trace is continued and answered in the traceresponse header.
    let traced = try await Self.grpcurl([
      "-plaintext", "-v", "-H", "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", e,
      "bct.v1.Encoder/ListModels"])
    #expect(traced.status == 0 && traced.output.contains("traceresponse: 00-0af7651916cd43dd8448eb211c80319c-"),
            "\(traced.output)\(traced.error)")

    // A bad request still gets its status through grpcurl.
    let bad = try await Self.grpcurl(["-plaintext", "-d", #"{"model_version": "v9"}"#, e, "bct.v1.Encoder/Embed"])
    #expect(bad.status != 0 && bad.error.contains("NotFound"), "\(bad.error)")

    // grpcurl speaks v1alpha; a v1 client gets the same answers.
    try await withGRPCClient(
      transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: encoder.port), transportSecurity: .plaintext)
    ) { client in
      let v1 = Grpc_Reflection_V1_ServerReflection.Client(wrapping: client)
      try await v1.serverReflectionInfo { writer in
        var list = Grpc_Reflection_V1_ServerReflectionRequest()
        list.listServices = ""
        var symbol = Grpc_Reflection_V1_ServerReflectionRequest()
        symbol.fileContainingSymbol = "bct.v1.Encoder.Embed"
        try await writer.write(contentsOf: [list, symbol])
      } onResponse: { response in
        var answers: [Grpc_Reflection_V1_ServerReflectionResponse] = []
        for try await message in response.messages { answers.append(message) }
        #expect(answers.count == 2)
        #expect(answers.first?.listServicesResponse.service.map(\.name).contains("bct.v1.Encoder") == true)
        let names = answers.last?.fileDescriptorResponse.fileDescriptorProto
          .map { try? Google_Protobuf_FileDescriptorProto(serializedBytes: $0).name }
        #expect(names == ["bct/v1/tensor.proto", "bct/v1/encoder.proto"])
      }
    }
  }
}
