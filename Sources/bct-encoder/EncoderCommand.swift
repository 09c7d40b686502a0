import ArgumentParser

/// `bct-encoder`: the gRPC service that hosts versioned embedding backbones.
@main
struct EncoderCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bct-encoder",
    abstract: "Serve versioned embedding backbones over gRPC (bct.v1.Encoder).",
    discussion: "The service itself arrives with the encoder issue; this build only describes it.",
    version: "0.1.0"
  )
}
