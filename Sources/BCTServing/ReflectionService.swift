import BCTProto
import Foundation
import GRPCCore
import SwiftProtobuf

/// The schema's files and the symbols they define, from a serialized FileDescriptorSet.
public struct SchemaIndex: Sendable {
  /// Serialized FileDescriptorProto of each file, by file name.
  let files: [String: Data]
  /// Direct dependencies of each file.
  let dependencies: [String: [String]]
  /// File defining each fully qualified symbol (package, messages, fields, enums,
  /// enum values, services, methods), without a leading dot.
  let symbols: [String: String]
  /// Fully qualified message names.
  let messages: Set<String>

  /// The index of `descriptorSet` (a serialized `google.protobuf.FileDescriptorSet`).
  public init(descriptorSet: Data) throws {
    let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: descriptorSet)
    var files: [String: Data] = [:]
    var dependencies: [String: [String]] = [:]
    var symbols: [String: String] = [:]
    var messages: Set<String> = []
    for file in set.file {
      files[file.name] = try file.serializedData()
      dependencies[file.name] = file.dependency
      let prefix = file.package.isEmpty ? "" : file.package + "."
      func addEnum(_ e: Google_Protobuf_EnumDescriptorProto, scope: String) {
        symbols[scope + e.name] = file.name
        // Enum values are scoped beside their enum, as in C++.
        for value in e.value { symbols[scope + value.name] = file.name }
      }
      func addMessage(_ m: Google_Protobuf_DescriptorProto, scope: String) {
        let name = scope + m.name
        symbols[name] = file.name
        messages.insert(name)
        for field in m.field { symbols[name + "." + field.name] = file.name }
        for oneof in m.oneofDecl { symbols[name + "." + oneof.name] = file.name }
        for nested in m.nestedType { addMessage(nested, scope: name + ".") }
        for e in m.enumType { addEnum(e, scope: name + ".") }
      }
      for m in file.messageType { addMessage(m, scope: prefix) }
      for e in file.enumType { addEnum(e, scope: prefix) }
      for service in file.service {
        symbols[prefix + service.name] = file.name
        for method in service.method { symbols[prefix + service.name + "." + method.name] = file.name }
      }
    }
    self.files = files
    self.dependencies = dependencies
    self.symbols = symbols
    self.messages = messages
  }

  /// The schema compiled into this program (every file in Protos/).
  public static func bundled() throws -> SchemaIndex {
    try SchemaIndex(descriptorSet: SchemaDescriptors.fileDescriptorSet)
  }

  /// `name` and its transitive dependencies, dependencies first, leaving out `sent`.
  func closure(of name: String, leavingOut sent: Set<String>) -> [String] {
    var order: [String] = []
    var seen = sent
    func visit(_ file: String) {
      guard !seen.contains(file), files[file] != nil else { return }
      seen.insert(file)
      for dependency in dependencies[file] ?? [] { visit(dependency) }
      order.append(file)
    }
    visit(name)
    return order
  }
}

/// gRPC server reflection (`grpc.reflection.v1` and `grpc.reflection.v1alpha`) over
/// the bundled schema: lists the services a server hosts and hands out file
/// descriptors by file name or by symbol, so that clients such as grpcurl need no
/// proto files.
public struct ReflectionService: Sendable {
  private let schema: SchemaIndex
  private let services: [String]

  /// The reflection services' own names.
  public static let serviceNames = ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]

  /// Reflection for a server hosting `services` (fully qualified names; the
  /// reflection services are added).
  public init(services: [String], schema: SchemaIndex) {
    self.schema = schema
    self.services = (services + Self.serviceNames).sorted()
  }

  /// The `grpc.reflection.v1` service.
  public var v1: some RegistrableRPCService { V1(core: self) }
  /// The `grpc.reflection.v1alpha` service (same messages on the wire).
  public var v1alpha: some RegistrableRPCService { V1Alpha(core: self) }

  /// The answer to one request; `sent` holds the files already sent on this stream.
  func respond(
    to request: Grpc_Reflection_V1_ServerReflectionRequest, sent: inout Set<String>
  ) -> Grpc_Reflection_V1_ServerReflectionResponse {
    var response = Grpc_Reflection_V1_ServerReflectionResponse()
    response.validHost = request.host
    response.originalRequest = request
    func error(_ code: RPCError.Code, _ message: String) {
      var e = Grpc_Reflection_V1_ErrorResponse()
      e.errorCode = Int32(code.rawValue)
      e.errorMessage = message
      response.errorResponse = e
    }
    func files(for name: String) {
      var reply = Grpc_Reflection_V1_FileDescriptorResponse()
      let names = schema.closure(of: name, leavingOut: sent)
      // A file already sent on this stream is sent again when asked for by itself.
      reply.fileDescriptorProto = (names.isEmpty ? [name] : names).compactMap { schema.files[$0] }
      sent.formUnion(names)
      response.fileDescriptorResponse = reply
    }
    switch request.messageRequest {
    case .listServices:
      var list = Grpc_Reflection_V1_ListServiceResponse()
      list.service = services.map { name in
        var service = Grpc_Reflection_V1_ServiceResponse()
        service.name = name
        return service
      }
      response.listServicesResponse = list
    case .fileByFilename(let name):
      if schema.files[name] != nil { files(for: name) } else { error(.notFound, "no file named \"\(name)\"") }
    case .fileContainingSymbol(let symbol):
      let key = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
      if let file = schema.symbols[key] { files(for: file) } else { error(.notFound, "no symbol \"\(symbol)\"") }
    case .fileContainingExtension(let request):
      error(.notFound, "no extension \(request.extensionNumber) of \"\(request.containingType)\": the schema defines no extensions")
    case .allExtensionNumbersOfType(let type):
      let key = type.hasPrefix(".") ? String(type.dropFirst()) : type
      if schema.messages.contains(key) {
        var numbers = Grpc_Reflection_V1_ExtensionNumberResponse()
        numbers.baseTypeName = key
        response.allExtensionNumbersResponse = numbers
      } else {
        error(.notFound, "no message type \"\(type)\"")
      }
    case nil:
      error(.invalidArgument, "the request sets none of file_by_filename, file_containing_symbol, file_containing_extension, all_extension_numbers_of_type, list_services")
    }
    return response
  }

  private struct V1: Grpc_Reflection_V1_ServerReflection.SimpleServiceProtocol {
    let core: ReflectionService

    func serverReflectionInfo(
      request: RPCAsyncSequence<Grpc_Reflection_V1_ServerReflectionRequest, any Error>,
      response: RPCWriter<Grpc_Reflection_V1_ServerReflectionResponse>,
      context: ServerContext
    ) async throws {
      var sent: Set<String> = []
      for try await message in request {
        try await response.write(core.respond(to: message, sent: &sent))
      }
    }
  }

  /// v1alpha's messages are v1's field for field: requests and responses cross over
  /// as bytes.
  private struct V1Alpha: Grpc_Reflection_V1alpha_ServerReflection.SimpleServiceProtocol {
    let core: ReflectionService

    func serverReflectionInfo(
      request: RPCAsyncSequence<Grpc_Reflection_V1alpha_ServerReflectionRequest, any Error>,
      response: RPCWriter<Grpc_Reflection_V1alpha_ServerReflectionResponse>,
      context: ServerContext
    ) async throws {
      var sent: Set<String> = []
      for try await message in request {
        let v1 = try Grpc_Reflection_V1_ServerReflectionRequest(serializedBytes: try message.serializedBytes() as [UInt8])
        let answer = core.respond(to: v1, sent: &sent)
        try await response.write(
          Grpc_Reflection_V1alpha_ServerReflectionResponse(serializedBytes: try answer.serializedBytes() as [UInt8]))
      }
    }
  }
}
