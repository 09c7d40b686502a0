import BCTData
import Foundation
import Testing

@Suite("IDX, npy and gzip files")
struct DataFileTests {
  static func temporaryFile(_ bytes: [UInt8], name: String) throws -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bct-data-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let url = dir.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
  }

  static func idx(type: UInt8, shape: [Int], payload: [UInt8]) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, type, UInt8(shape.count)]
    for d in shape { bytes += [UInt8(d >> 24 & 0xff), UInt8(d >> 16 & 0xff), UInt8(d >> 8 & 0xff), UInt8(d & 0xff)] }
    return bytes + payload
  }

  static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
    let path = try temporaryFile(bytes, name: "raw")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/gzip")
    process.arguments = ["-kf", path]
    try process.run()
    process.waitUntilExit()
    return Array(try Data(contentsOf: URL(fileURLWithPath: path + ".gz")))
  }

  @Test("IDX unsigned bytes and big-endian floats decode")
  func idxDecode() throws {
    let bytes = Self.idx(type: 0x08, shape: [2, 3], payload: [0, 1, 2, 253, 254, 255])
    let array = try IDX.decode(bytes)
    #expect(array.shape == [2, 3])
    #expect(array.values == [0, 1, 2, 253, 254, 255])
    let floats = Self.idx(type: 0x0D, shape: [2], payload: [0x3F, 0x80, 0, 0, 0xC0, 0, 0, 0])
    #expect(try IDX.decode(floats).values == [1, -2])
  }

  @Test("gzipped IDX reads through ArrayFile, like Debian's Fashion-MNIST files")
  func gzippedIDX() throws {
    let bytes = Self.idx(type: 0x08, shape: [4], payload: [9, 8, 7, 6])
    let path = try Self.temporaryFile(try Self.gzip(bytes), name: "labels.gz")
    #expect(try ArrayFile.read(path: path) == ArrayFile(shape: [4], values: [9, 8, 7, 6]))
  }

  @Test("bad IDX files fail with a message that says what was expected",
        arguments: [
          ([UInt8]([0, 0]), "4-byte magic"),
          ([1, 2, 3, 4, 5], "first two bytes"),
          ([0, 0, 0x07, 1, 0, 0, 0, 1, 0], "unknown IDX element type"),
          ([0, 0, 0x08, 2, 0, 0, 0, 2], "truncated IDX header"),
          ([0, 0, 0x08, 1, 0, 0, 0, 3, 1, 2], "needs 11 bytes, file has 10"),
        ])
  func badIDX(bytes: [UInt8], message: String) {
    #expect {
      try IDX.decode(bytes, path: "x.idx")
    } throws: { error in
      "\(error)".contains(message) && "\(error)".hasPrefix("x.idx")
    }
  }

  @Test("a truncated gzip stream is reported, not silently shortened")
  func truncatedGzip() throws {
    let full = try Self.gzip(Self.idx(type: 0x08, shape: [1000], payload: [UInt8](repeating: 7, count: 1000)))
    let path = try Self.temporaryFile(Array(full.prefix(full.count / 2)), name: "cut.gz")
    #expect { try ArrayFile.read(path: path) } throws: { "\($0)".contains("truncated") }
    #expect { try ArrayFile.read(path: "/nonexistent/file.npy") } throws: { "\($0)".contains("cannot open") }
  }

  @Test("npy round-trips float32 and reads NumPy's other dtypes")
  func npyRoundTrip() throws {
    let bytes = NPY.encode(shape: [2, 2], values: [1.5, -2, 0, 3.25])
    #expect((bytes.count - 16) % 64 == 0, "header padded to 64 bytes as NumPy does")
    let array = try NPY.decode(bytes)
    #expect(array == ArrayFile(shape: [2, 2], values: [1.5, -2, 0, 3.25]))
    #expect(try NPY.decode(NPY.encode(shape: [3], values: [1, 2, 3])).shape == [3])
    // A uint8 header as NumPy writes it.
    let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }"
    let padded = header + String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
    let u8: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(padded.utf8.count), 0] + Array(padded.utf8) + [0, 128, 255]
    #expect(try NPY.decode(u8).values == [0, 128, 255])
  }

  @Test("bad npy files fail clearly")
  func badNPY() throws {
    func npy(_ header: String, payload: [UInt8]) -> [UInt8] {
      [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8) + payload
    }
    #expect { try NPY.decode(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", payload: [0, 0, 0, 0])) }
      throws: { "\($0)".contains("dtype '>f4' is not supported") }
    #expect { try NPY.decode(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", payload: [0, 0, 0, 0])) }
      throws: { "\($0)".contains("Fortran") }
    #expect { try NPY.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", payload: [0, 0, 0, 0])) }
      throws: { "\($0)".contains("needs 8 data bytes") }
    #expect { try NPY.decode(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (a,), }", payload: [])) }
      throws: { "\($0)".contains("not a tuple") }
    #expect { try NPY.decode([0x93] + Array("NUMPY".utf8) + [9, 0, 0, 0]) }
      throws: { "\($0)".contains("version 9") }
  }

  @Test("datasets check that images and labels agree")
  func datasetValidation() throws {
    let images = try Self.temporaryFile(Self.idx(type: 0x08, shape: [3, 2, 2], payload: [UInt8](repeating: 1, count: 12)), name: "i")
    let labels = try Self.temporaryFile(Self.idx(type: 0x08, shape: [3], payload: [0, 2, 1]), name: "l")
    let dataset = try Dataset.load(images: images, labels: labels)
    #expect(dataset.sampleShape == [1, 2, 2] && dataset.count == 3 && dataset.classCount == 3)
    #expect(dataset.keepingClasses([0, 1]).labels == [0, 1])
    let short = try Self.temporaryFile(Self.idx(type: 0x08, shape: [2], payload: [0, 1]), name: "s")
    #expect { try Dataset.load(images: images, labels: short) } throws: { "\($0)".contains("2 labels for 3 images") }
    let negative = try Self.temporaryFile(NPY.encode(shape: [3], values: [0, -1, 2]), name: "n.npy")
    #expect { try Dataset.load(images: images, labels: negative) } throws: { "\($0)".contains("non-negative integer") }
  }

  @Test("the fraction split is fixed by its seed")
  func fraction() throws {
    let labels = try Self.temporaryFile(NPY.encode(shape: [10], values: (0..<10).map { Float($0) }), name: "l.npy")
    let images = try Self.temporaryFile(NPY.encode(shape: [10, 1], values: (0..<10).map { Float($0) }), name: "i.npy")
    let dataset = try Dataset.load(images: images, labels: labels)
    let a = dataset.fraction(0.5, seed: 0), b = dataset.fraction(0.5, seed: 0), c = dataset.fraction(0.5, seed: 1)
    #expect(a.count == 5 && a.labels == b.labels && a.labels != c.labels)
    #expect(a.inputs.values.map(Int.init) == a.labels)
  }

  @Test("Debian's Fashion-MNIST loads: 60k train, 10k test, 10 classes, 28x28",
        .enabled(if: FileManager.default.fileExists(atPath: DataSource.debianFashionMNIST + "/t10k-labels-idx1-ubyte.gz")))
  func fashionMNIST() throws {
    let source = DataSource.fashionMNIST(directory: DataSource.debianFashionMNIST)
    let test = try source.load(.test)
    #expect(test.count == 10_000 && test.classCount == 10 && test.sampleShape == [1, 28, 28])
    #expect(test.inputs.values.max() == 255)
  }
}
