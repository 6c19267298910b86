import Foundation
import Testing
@testable import TernCrypto

/// One record of a vector file: `name = value` lines, records separated by blank lines,
/// `#` lines are comments.
struct VectorRecord: CustomTestStringConvertible, Sendable {
    let fields: [String: String]
    var name: String { fields["name"] ?? "?" }
    var testDescription: String { name }

    func string(_ key: String) -> String {
        guard let value = fields[key] else { fatalError("\(name): no field \(key)") }
        return value
    }

    func hex(_ key: String) -> [UInt8] { hexBytes(string(key)) }

    func uint64(_ key: String) -> UInt64 {
        guard let value = UInt64(string(key), radix: 16) else { fatalError("\(name): \(key) is not hex") }
        return value
    }

    var encryption: EncryptionAlgorithm {
        let name = string("algorithm")
        guard let algorithm = allEncryptionAlgorithms.first(where: { $0.description == name }) else {
            fatalError("unknown encryption algorithm \(name)")
        }
        return algorithm
    }

    var integrity: IntegrityAlgorithm {
        let name = string("algorithm")
        guard let algorithm = allIntegrityAlgorithms.first(where: { $0.description == name }) else {
            fatalError("unknown integrity algorithm \(name)")
        }
        return algorithm
    }
}

func loadVectors(_ file: String) -> [VectorRecord] {
    guard let directory = Bundle.module.url(forResource: "Vectors", withExtension: nil),
          let text = try? String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8) else {
        fatalError("cannot read vector file \(file)")
    }
    var records: [VectorRecord] = []
    var fields: [String: String] = [:]
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) + [""]
    for line in lines {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("#") { continue }
        if trimmed.isEmpty {
            if !fields.isEmpty { records.append(VectorRecord(fields: fields)) }
            fields = [:]
            continue
        }
        let parts = trimmed.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
        precondition(parts.count == 2, "bad vector line: \(trimmed)")
        fields[parts[0]] = parts[1]
    }
    return records
}

func hexBytes(_ hex: String) -> [UInt8] {
    precondition(hex.count % 2 == 0, "odd-length hex")
    var bytes: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        bytes.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

let allEncryptionAlgorithms: [EncryptionAlgorithm] = [
    .null, .aesCBC(keyBits: 128), .aesCBC(keyBits: 192), .aesCBC(keyBits: 256),
    .aesGCM16(keyBits: 128), .aesGCM16(keyBits: 192), .aesGCM16(keyBits: 256), .chacha20Poly1305,
    .aesGMAC(keyBits: 128), .aesGMAC(keyBits: 192), .aesGMAC(keyBits: 256),
]

let allIntegrityAlgorithms: [IntegrityAlgorithm] = [
    .none, .hmacSHA1_96, .hmacSHA256_128, .hmacSHA384_192, .hmacSHA512_256,
]

/// Every valid (ENCR, INTEG) pair: combined modes alone, the others with each HMAC.
let allTransformPairs: [(EncryptionAlgorithm, IntegrityAlgorithm)] = allEncryptionAlgorithms.flatMap { encryption in
    encryption.isCombinedMode
        ? [(encryption, IntegrityAlgorithm.none)]
        : allIntegrityAlgorithms.filter { $0 != .none }.map { (encryption, $0) }
}

/// A seeded generator (SplitMix64) so a failing differential case can be replayed.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomBytes(_ count: Int, using rng: inout SeededRandom) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
}

func makeCipher(_ encryption: EncryptionAlgorithm, _ integrity: IntegrityAlgorithm,
                using rng: inout SeededRandom) throws -> (ESPCipher, encryptionKey: [UInt8], integrityKey: [UInt8]) {
    let encryptionKey = randomBytes(encryption.keyMaterialLength, using: &rng)
    let integrityKey = randomBytes(integrity.keyLength, using: &rng)
    let cipher = try ESPCipher(encryption: encryption, encryptionKey: encryptionKey,
                               integrity: integrity, integrityKey: integrityKey)
    return (cipher, encryptionKey, integrityKey)
}

/// Builds [SPI][Seq low][IV space][plaintext][ICV space] and seals it.
func sealPacket(_ cipher: ESPCipher, spi: UInt32, sequence: UInt64, esn: Bool, plaintext: [UInt8]) -> [UInt8]? {
    var packet = [UInt8](repeating: 0, count: 8 + cipher.ivLength + plaintext.count + cipher.icvLength)
    writeHeader(&packet, spi: spi, sequenceLow: UInt32(truncatingIfNeeded: sequence))
    packet.replaceSubrange((8 + cipher.ivLength)..<(8 + cipher.ivLength + plaintext.count), with: plaintext)
    let sealed = packet.withUnsafeMutableBytes {
        cipher.seal(esp: $0.baseAddress!, plaintextLength: plaintext.count, sequence: sequence, esn: esn)
    }
    return sealed ? packet : nil
}

/// Opens a copy of `packet`; returns the plaintext, or nil if open refused it.
func openPacket(_ cipher: ESPCipher, _ packet: [UInt8], length: Int? = nil, sequenceHigh: UInt32, esn: Bool) -> [UInt8]? {
    var copy = packet
    let totalLength = length ?? packet.count
    let opened = copy.withUnsafeMutableBytes {
        cipher.open(esp: $0.baseAddress!, totalLength: totalLength, sequenceHigh: sequenceHigh, esn: esn)
    }
    guard opened else { return nil }
    return Array(copy[(8 + cipher.ivLength)..<(totalLength - cipher.icvLength)])
}

func writeHeader(_ packet: inout [UInt8], spi: UInt32, sequenceLow: UInt32) {
    withUnsafeBytes(of: spi.bigEndian) { packet.replaceSubrange(0..<4, with: $0) }
    withUnsafeBytes(of: sequenceLow.bigEndian) { packet.replaceSubrange(4..<8, with: $0) }
}

func bigEndianBytes(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
func bigEndianBytes(_ value: UInt64) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }
