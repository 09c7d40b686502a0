import BCTNumerics

/// Layers applied in order, with their parameters: forward with a trace, and
/// backward through that trace.
public struct Sequential: Sendable {
  /// The layers, first to last.
  public let layers: [any Layer]
  /// Parameters of each layer, in `parameterSpecs` order.
  public var parameters: [[Matrix]]

  /// What a forward pass recorded for its backward pass.
  public struct Trace: Sendable {
    let contexts: [LayerContext]
  }

  /// A network with freshly initialised parameters.
  public init(layers: [any Layer], generator: inout SeededGenerator) {
    self.layers = layers
    self.parameters = layers.map { $0.initialParameters(using: &generator) }
  }

  /// A network over given parameters (shapes must match the layers).
  public init(layers: [any Layer], parameters: [[Matrix]]) {
    precondition(layers.count == parameters.count, "one parameter list per layer")
    self.layers = layers
    self.parameters = parameters
  }

  /// Width of the network's input rows.
  public var inputWidth: Int { layers.first?.inputWidth ?? 0 }
  /// Width of the network's output rows.
  public var outputWidth: Int { layers.last?.outputWidth ?? 0 }

  /// The output for `input`, without recording anything.
  public func callAsFunction(_ input: Matrix) -> Matrix {
    var x = input
    for (layer, p) in zip(layers, parameters) { x = layer.forward(x, parameters: p).output }
    return x
  }

  /// The output for `input` and the trace a backward pass needs.
  public func forward(_ input: Matrix) -> (output: Matrix, trace: Trace) {
    var x = input
    var contexts: [LayerContext] = []
    contexts.reserveCapacity(layers.count)
    for (layer, p) in zip(layers, parameters) {
      let (y, context) = layer.forward(x, parameters: p)
      contexts.append(context)
      x = y
    }
    return (x, Trace(contexts: contexts))
  }

  /// Parameter gradients (same nesting as `parameters`) and, if asked, the input gradient.
  public func backward(
    _ outputGradient: Matrix, trace: Trace, needsInputGradient: Bool = false
  ) -> (parameterGradients: [[Matrix]], inputGradient: Matrix?) {
    var gradient = outputGradient
    var gradients = [[Matrix]](repeating: [], count: layers.count)
    for index in layers.indices.reversed() {
      let needsInput = index > 0 || needsInputGradient
      let (dx, dp) = layers[index].backward(
        gradient, parameters: parameters[index], context: trace.contexts[index], needsInputGradient: needsInput)
      gradients[index] = dp
      if let dx { gradient = dx }
    }
    return (gradients, needsInputGradient ? gradient : nil)
  }

  /// Every parameter with its file name `"<layer index>.<name>"` (PyTorch `nn.Sequential` naming).
  public var namedParameters: [(name: String, spec: ParameterSpec, value: Matrix)] {
    var result: [(String, ParameterSpec, Matrix)] = []
    for (index, layer) in layers.enumerated() {
      for (spec, value) in zip(layer.parameterSpecs, parameters[index]) {
        result.append(("\(index).\(spec.name)", spec, value))
      }
    }
    return result
  }
}
