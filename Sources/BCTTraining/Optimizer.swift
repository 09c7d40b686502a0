import BCTNumerics

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which update rule trains the parameters.
public enum OptimizerKind: String, Sendable, CaseIterable, Codable {
  /// SGD with (heavy-ball) momentum.
  case sgd
  /// Adam (Kingma & Ba), with L2 weight decay added to the gradient as PyTorch does.
  case adam
}

/// An optimizer's state over a fixed list of parameter tensors.
public struct Optimizer: Sendable {
  public let kind: OptimizerKind
  public let momentum: Float
  public let weightDecay: Float
  public let beta1: Float = 0.9
  public let beta2: Float = 0.999
  public let epsilon: Float = 1e-8
  private var first: [[Float]] = []
  private var second: [[Float]] = []
  private var steps = 0

  public init(kind: OptimizerKind, momentum: Float = 0.9, weightDecay: Float = 0) {
    self.kind = kind
    self.momentum = momentum
    self.weightDecay = weightDecay
  }

  /// Applies one update with learning rate `rate` to `parameters` given `gradients`
  /// (same count and shapes, same order every step).
  public mutating func step(_ parameters: inout [Matrix], gradients: [Matrix], rate: Float) {
    precondition(parameters.count == gradients.count, "one gradient per parameter")
    if first.isEmpty {
      first = parameters.map { [Float](repeating: 0, count: $0.values.count) }
      if kind == .adam { second = first }
    }
    steps += 1
    let correction1 = 1 - powf(beta1, Float(steps))
    let correction2 = 1 - powf(beta2, Float(steps))
    for p in parameters.indices {
      parameters[p].values.withUnsafeMutableBufferPointer { w in
        gradients[p].values.withUnsafeBufferPointer { g in
          first[p].withUnsafeMutableBufferPointer { m in
            switch kind {
            case .sgd:
              for i in 0..<w.count {
                let grad = g[i] + weightDecay * w[i]
                m[i] = momentum * m[i] + grad
                w[i] -= rate * m[i]
              }
            case .adam:
              second[p].withUnsafeMutableBufferPointer { v in
                let stepSize = rate / correction1
                for i in 0..<w.count {
                  let grad = g[i] + weightDecay * w[i]
                  m[i] = beta1 * m[i] + (1 - beta1) * grad
                  v[i] = beta2 * v[i] + (1 - beta2) * grad * grad
                  w[i] -= stepSize * m[i] / ((v[i] / correction2).squareRoot() + epsilon)
                }
              }
            }
          }
        }
      }
    }
  }
}

/// How the learning rate changes over training.
public enum LearningRateSchedule: String, Sendable, CaseIterable, Codable {
  /// The base rate throughout.
  case constant
  /// Cosine decay from the base rate to 0 over all steps.
  case cosine
  /// The base rate, divided by 10 at 50% and again at 75% of training.
  case step

  /// The rate at `step` of `total` steps.
  public func rate(base: Float, step: Int, total: Int) -> Float {
    let progress = Float(step) / Float(max(total, 1))
    switch self {
    case .constant: return base
    case .cosine: return base * 0.5 * (1 + cosf(Float.pi * progress))
    case .step: return progress < 0.5 ? base : progress < 0.75 ? base / 10 : base / 100
    }
  }
}
