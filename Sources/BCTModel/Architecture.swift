/// A backbone architecture and its hyper-parameters.
public enum Architecture: Sendable, Equatable {
  /// Fully connected: input -> hidden widths (ReLU) -> embedding.
  case mlp(hidden: [Int])
  /// Convolutional: per entry of `channels` a 3x3 conv (padding 1), ReLU and 2x2 max
  /// pool; then flatten -> `hidden` (ReLU) -> embedding.
  case cnn(channels: [Int], hidden: Int)

  /// The default MLP, 784-512-256-128 on Fashion-MNIST.
  public static let defaultMLP = Architecture.mlp(hidden: [512, 256])
  /// The default CNN, conv32-conv64-256-128.
  public static let defaultCNN = Architecture.cnn(channels: [32, 64], hidden: 256)

  /// "mlp" or "cnn".
  public var name: String {
    switch self {
    case .mlp: return "mlp"
    case .cnn: return "cnn"
    }
  }

  /// Hyper-parameters as text, as recorded in manifests.
  public var parameters: [String: String] {
    switch self {
    case .mlp(let hidden): return ["hidden": hidden.map(String.init).joined(separator: ",")]
    case .cnn(let channels, let hidden):
      return ["channels": channels.map(String.init).joined(separator: ","), "hidden": String(hidden)]
    }
  }

  /// Parses a name and hyper-parameters (missing ones take the defaults).
  public init(name: String, parameters: [String: String] = [:]) throws {
    func list(_ key: String) throws -> [Int]? {
      guard let text = parameters[key] else { return nil }
      let values = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
      guard !values.isEmpty, values.allSatisfy({ $0 > 0 }), values.count == text.split(separator: ",").count else {
        throw ModelError("architecture parameter \(key)=\"\(text)\" must be comma-separated positive integers")
      }
      return values
    }
    switch name {
    case "mlp":
      self = .mlp(hidden: try list("hidden") ?? [512, 256])
    case "cnn":
      let hidden = try list("hidden") ?? [256]
      guard hidden.count == 1 else { throw ModelError("cnn takes one hidden width, got \(hidden)") }
      self = .cnn(channels: try list("channels") ?? [32, 64], hidden: hidden[0])
    default:
      throw ModelError("unknown architecture \"\(name)\"; expected mlp or cnn")
    }
  }

  /// The layers for inputs of `inputShape` (`[C, H, W]`) and embeddings of `embeddingDim`.
  public func layers(inputShape: [Int], embeddingDim: Int) throws -> [any Layer] {
    let width = try Self.checkSizes(self, inputShape: inputShape, embeddingDim: embeddingDim)
    var layers: [any Layer] = []
    switch self {
    case .mlp(let hidden):
      var previous = width
      for h in hidden {
        layers.append(Linear(inputs: previous, outputs: h))
        layers.append(ReLU(width: h))
        previous = h
      }
      layers.append(Linear(inputs: previous, outputs: embeddingDim))
    case .cnn(let channels, let hidden):
      guard inputShape.count == 3 else {
        throw ModelError("cnn needs image inputs [C, H, W], got shape \(inputShape)")
      }
      var (c, h, w) = (inputShape[0], inputShape[1], inputShape[2])
      for out in channels {
        guard h >= 2, w >= 2 else { throw ModelError("input \(inputShape) is too small for \(channels.count) conv+pool blocks") }
        layers.append(Conv2D(
          inChannels: c, outChannels: out, kernel: 3, padding: 1, height: h, width: w,
          inputLayout: layers.isEmpty ? .channelsFirst : .channelsLast))
        layers.append(ReLU(width: out * h * w))
        layers.append(MaxPool2D(channels: out, height: h, width: w))
        (c, h, w) = (out, h / 2, w / 2)
      }
      layers.append(Flatten(channels: c, height: h, width: w))
      layers.append(Linear(inputs: c * h * w, outputs: hidden))
      layers.append(ReLU(width: hidden))
      layers.append(Linear(inputs: hidden, outputs: embeddingDim))
    }
    return layers
  }
}

extension Architecture {
  /// Most values in one input, one layer's output or one weight matrix.
  public static let maximumTensorValues = 1 << 28
  /// Widest embedding, hidden layer or channel count.
  public static let maximumWidth = 1 << 16

  /// Checks that every size the layers derive from a manifest is positive and
  /// within bounds, multiplying with overflow checks (a manifest is a file:
  /// it must never crash the process that reads it). Returns the input width.
  static func checkSizes(_ architecture: Architecture, inputShape: [Int], embeddingDim: Int) throws -> Int {
    func product(_ factors: [Int], _ what: String) throws -> Int {
      var result = 1
      for factor in factors {
        let (next, overflow) = result.multipliedReportingOverflow(by: factor)
        guard factor >= 1, !overflow, next <= maximumTensorValues else {
          throw ModelError("\(what) \(factors) must be positive and hold at most \(maximumTensorValues) values")
        }
        result = next
      }
      return result
    }
    guard (1...4).contains(inputShape.count) else {
      throw ModelError("input shape \(inputShape) must have 1 to 4 dimensions")
    }
    let width = try product(inputShape, "input shape")
    let widths: [Int]
    switch architecture {
    case .mlp(let hidden): widths = hidden + [embeddingDim]
    case .cnn(let channels, let hidden): widths = channels + [hidden, embeddingDim]
    }
    for w in widths where !(1...maximumWidth).contains(w) {
      throw ModelError("layer width \(w) must be 1 to \(maximumWidth) (embedding_dim and the architecture's hidden widths and channels)")
    }
    switch architecture {
    case .mlp(let hidden):
      for (inputs, outputs) in zip([width] + hidden, hidden + [embeddingDim]) {
        _ = try product([inputs, outputs], "a linear layer of")
      }
    case .cnn(let channels, let hidden):
      guard inputShape.count == 3 else { break }
      var (c, h, w) = (inputShape[0], inputShape[1], inputShape[2])
      for out in channels {
        _ = try product([out, h, w], "a convolution output of")
        _ = try product([out, c, 9], "a convolution weight of")
        _ = try product([c, 9, h, w], "a convolution's patches of")
        (c, h, w) = (out, h / 2, w / 2)
      }
      _ = try product([c, h, w, hidden], "a linear layer of")
    }
    return width
  }
}

/// A model that cannot be built or loaded: says what was wrong and what was expected.
public struct ModelError: Error, CustomStringConvertible, Sendable {
  public let description: String
  public init(_ description: String) { self.description = description }
}

import Foundation
