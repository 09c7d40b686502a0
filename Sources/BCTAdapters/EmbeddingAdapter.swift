import BCTNumerics

/// A fitted map from one embedding space to another: `x W + b`, plus
/// `relu(x W1 + c1) W2` for the residual MLP, then scaled to unit length (every
/// search in bct compares unit vectors).
public struct EmbeddingAdapter: Sendable, Equatable {
  /// The residual branch of an MLP adapter.
  public struct Residual: Sendable, Equatable {
    /// `[input, hidden]`.
    public var inner: Matrix
    /// `[1, hidden]`.
    public var innerBias: Matrix
    /// `[hidden, output]`.
    public var outer: Matrix

    public init(inner: Matrix, innerBias: Matrix, outer: Matrix) {
      self.inner = inner
      self.innerBias = innerBias
      self.outer = outer
    }
  }

  public var kind: AdapterKind
  /// `[input, output]`.
  public var linear: Matrix
  /// `[1, output]`.
  public var bias: Matrix
  public var residual: Residual?

  public init(kind: AdapterKind, linear: Matrix, bias: Matrix, residual: Residual? = nil) {
    self.kind = kind
    self.linear = linear
    self.bias = bias
    self.residual = residual
  }

  /// Width of the embeddings it takes.
  public var inputDim: Int { linear.rows }
  /// Width of the embeddings it gives.
  public var outputDim: Int { linear.columns }
  /// Hidden width of the residual branch (0 without one).
  public var hiddenDim: Int { residual?.inner.columns ?? 0 }

  /// `rows` (`[n, inputDim]`) mapped and scaled to unit length.
  public func apply(_ rows: Matrix) -> Matrix {
    raw(rows).output.l2NormalizedRows()
  }

  /// The map before normalisation, and the residual branch's hidden activations
  /// (after the ReLU) that its gradient needs.
  public func raw(_ rows: Matrix) -> (output: Matrix, hidden: Matrix?) {
    var output = Matrix(uninitializedRows: rows.rows, columns: outputDim)
    BLAS.gemm(rows, linear, into: &output)
    output.addRowVector(bias)
    guard let residual else { return (output, nil) }
    var hidden = Matrix(uninitializedRows: rows.rows, columns: residual.inner.columns)
    BLAS.gemm(rows, residual.inner, into: &hidden)
    hidden.addRowVector(residual.innerBias)
    hidden.values.withUnsafeMutableBufferPointer { h in
      for i in 0..<h.count where h[i] < 0 { h[i] = 0 }
    }
    BLAS.gemm(hidden, residual.outer, beta: 1, into: &output)
    return (output, hidden)
  }

  /// The largest weight magnitude an adapter may hold. Adapters map unit vectors to
  /// unit vectors, so fitted weights stay far below it; with it, no input of at most
  /// 65,536 unit-bounded values can overflow a Float through either layer.
  public static let weightLimit: Float = 1e6

  /// Why the adapter cannot be used, if it cannot: shapes that do not fit, or a
  /// non-finite or out-of-range weight (one that could overflow a mapped vector).
  public var problem: String? {
    if linear.rows < 1 || linear.columns < 1 { return "an adapter needs a non-empty linear map" }
    if bias.rows != 1 || bias.columns != outputDim { return "the bias has \(bias.values.count) values for \(outputDim) outputs" }
    if let residual {
      let h = residual.inner.columns
      if residual.inner.rows != inputDim || residual.innerBias.columns != h || residual.innerBias.rows != 1
        || residual.outer.rows != h || residual.outer.columns != outputDim || h < 1 {
        return "the residual branch's shapes do not fit a \(inputDim) -> \(outputDim) adapter"
      }
      if ![residual.inner, residual.innerBias, residual.outer].allSatisfy(Self.weightsInRange) {
        return "the residual branch holds a non-finite weight or one beyond ±1e6"
      }
    }
    if !(Self.weightsInRange(linear) && Self.weightsInRange(bias)) {
      return "the linear map holds a non-finite weight or one beyond ±1e6"
    }
    return nil
  }

  private static func weightsInRange(_ m: Matrix) -> Bool {
    m.values.allSatisfy { abs($0) <= weightLimit }
  }
}
