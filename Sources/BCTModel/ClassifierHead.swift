import BCTNumerics

/// A linear classifier over embeddings, `logits = f W^T + b`, `W` is `[classes, dim]`.
/// BCT keeps the old version's head frozen and scores new embeddings with it.
public struct ClassifierHead: Sendable, Equatable {
  /// How the head was made.
  public enum Kind: String, Sendable, Codable {
    /// Learned weights and bias.
    case linear
    /// A fixed simplex equiangular tight frame, never trained (compatible by construction).
    case etf
  }

  /// How the head was made.
  public let kind: Kind
  /// `[classes, dim]`.
  public var weight: Matrix
  /// `[1, classes]`.
  public var bias: Matrix

  public init(kind: Kind, weight: Matrix, bias: Matrix) {
    precondition(bias.rows == 1 && bias.columns == weight.rows, "one bias per class")
    self.kind = kind
    self.weight = weight
    self.bias = bias
  }

  /// Number of classes scored.
  public var classCount: Int { weight.rows }
  /// Embedding dimension expected.
  public var embeddingDim: Int { weight.columns }

  /// A learned head initialised as PyTorch's `nn.Linear`.
  public static func linear(classes: Int, embeddingDim: Int, generator: inout SeededGenerator) -> ClassifierHead {
    let layer = Linear(inputs: embeddingDim, outputs: classes)
    let p = layer.initialParameters(using: &generator)
    return ClassifierHead(kind: .linear, weight: p[0], bias: p[1])
  }

  /// A simplex ETF: `classes` unit vectors with pairwise cosine `-1/(classes-1)`,
  /// scaled by `scale`, in a random orientation fixed by `seed`.
  public static func etf(classes: Int, embeddingDim: Int, scale: Float = 1, seed: UInt64) throws -> ClassifierHead {
    guard classes >= 2, embeddingDim >= classes else {
      throw ModelError("an ETF head needs 2 <= classes <= embedding dim, got \(classes) classes in \(embeddingDim) dims")
    }
    var generator = SeededGenerator(seed: seed)
    // Orthonormal rows U [classes, dim] by Gram-Schmidt on Gaussian rows.
    var u = Matrix.gaussian(rows: classes, columns: embeddingDim, std: 1, using: &generator)
    for i in 0..<classes {
      for j in 0..<i {
        var dot: Float = 0
        for c in 0..<embeddingDim { dot += u[i, c] * u[j, c] }
        for c in 0..<embeddingDim { u[i, c] -= dot * u[j, c] }
      }
      var norm: Float = 0
      for c in 0..<embeddingDim { norm += u[i, c] * u[i, c] }
      norm = norm.squareRoot()
      for c in 0..<embeddingDim { u[i, c] /= norm }
    }
    // W = sqrt(C/(C-1)) (I - 11^T/C) U: rows are centred, unit-norm, equiangular.
    let k = Float(classes)
    let factor = (k / (k - 1)).squareRoot() * scale
    var w = Matrix(rows: classes, columns: embeddingDim)
    let mean = u.columnSums().scaled(by: 1 / k)
    for i in 0..<classes {
      for c in 0..<embeddingDim { w[i, c] = factor * (u[i, c] - mean.values[c]) }
    }
    return ClassifierHead(kind: .etf, weight: w, bias: Matrix(rows: 1, columns: classes))
  }

  /// Logits `[N, classes]` for features `[N, dim]`.
  public func logits(_ features: Matrix) -> Matrix {
    var out = Matrix(rows: features.rows, columns: classCount)
    BLAS.gemm(features, weight, transposeB: .transposed, into: &out)
    out.addRowVector(bias)
    return out
  }

  /// Gradients of a loss with respect to the features and, unless the head is
  /// frozen (`needsParameterGradients == false`), to its weight and bias.
  public func backward(
    features: Matrix, logitGradient: Matrix, needsParameterGradients: Bool
  ) -> (features: Matrix, weight: Matrix?, bias: Matrix?) {
    var df = Matrix(rows: features.rows, columns: embeddingDim)
    BLAS.gemm(logitGradient, weight, into: &df)
    guard needsParameterGradients else { return (df, nil, nil) }
    var dw = Matrix(rows: classCount, columns: embeddingDim)
    BLAS.gemm(logitGradient, features, transposeA: .transposed, into: &dw)
    return (df, dw, logitGradient.columnSums())
  }

  /// This head with extra rows appended (synthesized classifiers for classes it never saw).
  public func appending(rows: Matrix, bias extraBias: [Float]) -> ClassifierHead {
    precondition(rows.columns == embeddingDim && rows.rows == extraBias.count, "appended rows must match")
    return ClassifierHead(
      kind: kind,
      weight: Matrix(rows: classCount + rows.rows, columns: embeddingDim, values: weight.values + rows.values),
      bias: Matrix(rows: 1, columns: classCount + rows.rows, values: bias.values + extraBias))
  }
}
