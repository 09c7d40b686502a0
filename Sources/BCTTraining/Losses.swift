import BCTModel
import BCTNumerics

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loss value and its gradient with respect to the loss's input.
public struct LossResult: Sendable {
  /// The loss, averaged over the batch.
  public var value: Float
  /// dLoss/dInput, same shape as the input.
  public var gradient: Matrix
}

/// The training objectives, each a pure function returning value and gradient.
public enum Losses {
  /// Softmax cross-entropy of `logits` `[N, C]` against `labels`, mean over the batch.
  public static func softmaxCrossEntropy(logits: Matrix, labels: [Int]) -> LossResult {
    precondition(logits.rows == labels.count, "one label per row")
    let (probabilities, logSumExp) = softmax(logits)
    var gradient = probabilities
    var total: Float = 0
    let n = Float(max(logits.rows, 1))
    for r in 0..<logits.rows {
      let label = labels[r]
      precondition(label >= 0 && label < logits.columns, "label \(label) outside the head's \(logits.columns) classes")
      total += logSumExp[r] - logits[r, label]
      gradient[r, label] -= 1
    }
    gradient.values.withUnsafeMutableBufferPointer { g in
      for i in 0..<g.count { g[i] /= n }
    }
    return LossResult(value: total / n, gradient: gradient)
  }

  /// L2 feature regression: mean over the batch of `|new - old|^2`, pulling new
  /// embeddings onto the frozen old backbone's embeddings of the same inputs.
  public static func featureRegression(new: Matrix, old: Matrix) -> LossResult {
    precondition(new.rows == old.rows && new.columns == old.columns, "feature shapes differ")
    let n = Float(max(new.rows, 1))
    var gradient = new
    var total: Float = 0
    gradient.values.withUnsafeMutableBufferPointer { g in
      old.values.withUnsafeBufferPointer { o in
        for i in 0..<g.count {
          let d = g[i] - o[i]
          total += d * d
          g[i] = 2 * d / n
        }
      }
    }
    return LossResult(value: total / n, gradient: gradient)
  }

  /// Contrastive loss over similarity logits `anchors · candidates^T / temperature`
  /// where row `i`'s positives are `positives(i)` (a soft target spread evenly over
  /// them). Returns the value and the gradients for anchors and candidates.
  static func contrastive(
    anchors: Matrix, candidates: Matrix, temperature: Float, positives: (Int) -> [Int]
  ) -> (value: Float, anchors: Matrix, candidates: Matrix) {
    var logits = BLAS.matmul(anchors, candidates, transposeB: .transposed)
    logits.values.withUnsafeMutableBufferPointer { v in
      for i in 0..<v.count { v[i] /= temperature }
    }
    let (probabilities, logSumExp) = softmax(logits)
    var dLogits = probabilities
    var total: Float = 0
    let n = Float(max(anchors.rows, 1))
    for r in 0..<anchors.rows {
      let positive = positives(r)
      precondition(!positive.isEmpty, "every anchor needs a positive")
      let weight = 1 / Float(positive.count)
      for p in positive {
        total += weight * (logSumExp[r] - logits[r, p])
        dLogits[r, p] -= weight
      }
    }
    let scale = 1 / (n * temperature)
    dLogits.values.withUnsafeMutableBufferPointer { g in
      for i in 0..<g.count { g[i] *= scale }
    }
    let dAnchors = BLAS.matmul(dLogits, candidates)
    let dCandidates = BLAS.matmul(dLogits, anchors, transposeA: .transposed)
    return (total / n, dAnchors, dCandidates)
  }

  /// InfoNCE with in-batch negatives (and optionally a queue of earlier keys, as
  /// MoCo keeps): query `i`'s positive is key `i`; every other key and every queued
  /// key is a negative. Inputs are unit vectors. Queue entries get no gradient.
  public static func infoNCE(
    queries: Matrix, keys: Matrix, queue: Matrix? = nil, temperature: Float
  ) -> (value: Float, queries: Matrix, keys: Matrix) {
    let candidates: Matrix
    if let queue, queue.rows > 0 {
      candidates = Matrix(rows: keys.rows + queue.rows, columns: keys.columns, values: keys.values + queue.values)
    } else {
      candidates = keys
    }
    let result = contrastive(anchors: queries, candidates: candidates, temperature: temperature) { [$0] }
    return (result.value, result.anchors, result.candidates.rows(0..<keys.rows))
  }

  /// New-to-old supervised contrastive loss: each new-model embedding (unit vector)
  /// is pulled toward the frozen old-model embeddings of same-class examples in the
  /// batch and pushed from the others. This is exactly what cross-model retrieval
  /// (new queries against an old gallery) rewards. Old embeddings get no gradient.
  public static func crossModelContrastive(
    new: Matrix, old: Matrix, labels: [Int], temperature: Float
  ) -> LossResult {
    var byClass: [Int: [Int]] = [:]
    for (i, label) in labels.enumerated() { byClass[label, default: []].append(i) }
    let result = contrastive(anchors: new, candidates: old, temperature: temperature) { byClass[labels[$0]]! }
    return LossResult(value: result.value, gradient: result.anchors)
  }

  /// BCT's influence loss: the OLD head, frozen, classifies the NEW embeddings
  /// (cross-entropy); only the embeddings get a gradient. With `cosineScale`, the
  /// old head is used as a normalised (cosine) classifier: logits = s * cos(f, w_c),
  /// bias dropped, which matches the cosine similarity retrieval ranks by.
  public static func influence(
    oldHead: ClassifierHead, features: Matrix, labels: [Int], cosineScale: Float? = nil
  ) -> LossResult {
    guard let scale = cosineScale else {
      let ce = softmaxCrossEntropy(logits: oldHead.logits(features), labels: labels)
      let back = oldHead.backward(features: features, logitGradient: ce.gradient, needsParameterGradients: false)
      return LossResult(value: ce.value, gradient: back.features)
    }
    let (unit, norms) = features.l2NormalizedRowsWithNorms()
    let unitRows = oldHead.weight.l2NormalizedRows()
    var logits = BLAS.matmul(unit, unitRows, transposeB: .transposed)
    logits.values.withUnsafeMutableBufferPointer { v in
      for i in 0..<v.count { v[i] *= scale }
    }
    var ce = softmaxCrossEntropy(logits: logits, labels: labels)
    ce.gradient.values.withUnsafeMutableBufferPointer { g in
      for i in 0..<g.count { g[i] *= scale }
    }
    let dUnit = BLAS.matmul(ce.gradient, unitRows)
    return LossResult(value: ce.value, gradient: l2NormalizeBackward(normalized: unit, norms: norms, gradient: dUnit))
  }

  /// The Hot-Refresh / RACT compatibility term (Zhang et al., ICLR 2022), on unit
  /// vectors: each new embedding's positive is the frozen OLD embedding of the same
  /// example; its negatives are the old AND the new embeddings of examples of other
  /// classes (same-class others are left out of the denominator). A low temperature
  /// (0.01-0.05) makes it a hard margin. The gradient reaches the new embeddings
  /// both as anchors and as negatives; old embeddings get none.
  public static func hotRefreshContrastive(
    new: Matrix, old: Matrix, labels: [Int], temperature: Float
  ) -> LossResult {
    precondition(new.rows == old.rows && new.columns == old.columns && new.rows == labels.count, "batch shapes differ")
    let n = new.rows
    let candidates = Matrix(rows: 2 * n, columns: new.columns, values: old.values + new.values)
    let logits = BLAS.matmul(new, candidates, transposeB: .transposed)
    var dLogits = Matrix(rows: n, columns: 2 * n)
    var total: Float = 0
    let scale = 1 / (Float(max(n, 1)) * temperature)
    logits.values.withUnsafeBufferPointer { l in
      dLogits.values.withUnsafeMutableBufferPointer { d in
        for i in 0..<n {
          let row = l.baseAddress! + i * 2 * n
          let out = d.baseAddress! + i * 2 * n
          func included(_ j: Int) -> Bool { j == i || labels[j % n] != labels[i] }
          var maximum = -Float.infinity
          for j in 0..<(2 * n) where included(j) { maximum = max(maximum, row[j] / temperature) }
          var sum: Float = 0
          for j in 0..<(2 * n) where included(j) {
            let e = expf(row[j] / temperature - maximum)
            out[j] = e
            sum += e
          }
          total += maximum + logf(sum) - row[i] / temperature
          for j in 0..<(2 * n) where included(j) { out[j] = out[j] / sum * scale }
          out[i] -= scale
        }
      }
    }
    var dNew = BLAS.matmul(dLogits.columns(n..<(2 * n)), new, transposeA: .transposed)
    dNew.add(BLAS.matmul(dLogits, candidates))
    return LossResult(value: total / Float(max(n, 1)), gradient: dNew)
  }

  /// Row-wise softmax and log-sum-exp, numerically stable.
  static func softmax(_ logits: Matrix) -> (Matrix, [Float]) {
    var out = logits
    var logSumExp = [Float](repeating: 0, count: logits.rows)
    out.values.withUnsafeMutableBufferPointer { v in
      for r in 0..<logits.rows {
        let row = v.baseAddress! + r * logits.columns
        var maximum = -Float.infinity
        for c in 0..<logits.columns { maximum = max(maximum, row[c]) }
        var sum: Float = 0
        for c in 0..<logits.columns {
          row[c] = expf(row[c] - maximum)
          sum += row[c]
        }
        for c in 0..<logits.columns { row[c] /= sum }
        logSumExp[r] = maximum + logf(sum)
      }
    }
    return (out, logSumExp)
  }
}
