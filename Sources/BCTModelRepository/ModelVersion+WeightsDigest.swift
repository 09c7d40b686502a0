import Crypto

extension ModelVersion {
  /// sha256 (hex) over every backbone tensor (name, shape, little-endian float32
  /// data, in layer order) and then the head's fingerprint: what an adapter is
  /// fitted for. Any change of weights changes it.
  public var weightsDigest: String {
    var hasher = SHA256()
    for (name, spec, value) in backbone.network.namedParameters {
      hasher.update(tensor: name, shape: spec.tensorShape, values: value.values)
    }
    hasher.update(data: Array(manifest.head.fingerprint.utf8))
    return hasher.finalize().hex
  }
}
