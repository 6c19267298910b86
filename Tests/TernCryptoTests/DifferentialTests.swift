import Crypto
import Foundation
import Testing
@testable import TernCrypto

/// A transform pair as a test argument.
struct TransformPair: Sendable, CustomTestStringConvertible {
    let encryption: EncryptionAlgorithm
    let integrity: IntegrityAlgorithm
    var testDescription: String { "\(encryption)/\(integrity)" }
    static let all = allTransformPairs.map { TransformPair(encryption: $0.0, integrity: $0.1) }
}

/// swift-crypto is the slow, independent reference: it re-keys per call, which is fine here.
func referenceHMAC(_ algorithm: IntegrityAlgorithm, key: [UInt8], data: [UInt8]) -> [UInt8] {
    let key = SymmetricKey(data: key)
    switch algorithm {
    case .none: return []
    case .hmacSHA1_96: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: key))
    case .hmacSHA256_128: return Array(HMAC<SHA256>.authenticationCode(for: data, using: key))
    case .hmacSHA384_192: return Array(HMAC<SHA384>.authenticationCode(for: data, using: key))
    case .hmacSHA512_256: return Array(HMAC<SHA512>.authenticationCode(for: data, using: key))
    }
}

/// (ciphertext, tag) for an AEAD transform, from swift-crypto.
func referenceAEAD(_ encryption: EncryptionAlgorithm, keyMaterial: [UInt8], iv: [UInt8],
                   aad: [UInt8], plaintext: [UInt8]) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
    let key = SymmetricKey(data: keyMaterial.dropLast(4))
    let nonce = keyMaterial.suffix(4) + iv
    if encryption == .chacha20Poly1305 {
        let box = try ChaChaPoly.seal(plaintext, using: key, nonce: ChaChaPoly.Nonce(data: nonce), authenticating: aad)
        return (Array(box.ciphertext), Array(box.tag))
    }
    let box = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(data: nonce), authenticating: aad)
    return (Array(box.ciphertext), Array(box.tag))
}

@Suite struct DifferentialTests {
    /// Random keys, SPIs, sequence numbers and sizes 0...2000, with and without ESN, for every
    /// transform pair; many packets through one context so per-packet re-initialisation is
    /// exercised too. Each sealed packet is checked against swift-crypto, then opened.
    @Test(arguments: TransformPair.all)
    func sealMatchesSwiftCryptoAndOpens(_ pair: TransformPair) throws {
        var rng = SeededRandom(seed: pair.testDescription.utf8.reduce(0x7E57) { $0 &* 31 &+ UInt64($1) })
        for round in 0..<4 {
            let (cipher, encryptionKey, integrityKey) = try makeCipher(pair.encryption, pair.integrity, using: &rng)
            let receiver = try ESPCipher(encryption: pair.encryption, encryptionKey: encryptionKey,
                                         integrity: pair.integrity, integrityKey: integrityKey)
            for index in 0..<12 {
                let esn = (round + index) % 2 == 0
                var size = index == 0 ? 0 : index == 1 ? 2000 : Int.random(in: 0...2000, using: &rng)
                if pair.encryption.blockSize == 16 { size -= size % 16 }
                let plaintext = randomBytes(size, using: &rng)
                let spi = UInt32.random(in: 256...UInt32.max, using: &rng)
                let sequence = esn ? UInt64.random(in: 1...UInt64.max, using: &rng) : UInt64(UInt32.random(in: 1...UInt32.max, using: &rng))
                let high = UInt32(truncatingIfNeeded: sequence >> 32)

                let packet = try #require(sealPacket(cipher, spi: spi, sequence: sequence, esn: esn, plaintext: plaintext))
                try checkAgainstReference(pair, packet, plaintext: plaintext, encryptionKey: encryptionKey,
                                          integrityKey: integrityKey, sequenceHigh: high, esn: esn, ivLength: cipher.ivLength,
                                          icvLength: cipher.icvLength)
                #expect(openPacket(receiver, packet, sequenceHigh: high, esn: esn) == plaintext,
                        "\(pair.testDescription) size \(size) esn \(esn)")
            }
        }
    }

    private func checkAgainstReference(_ pair: TransformPair, _ packet: [UInt8], plaintext: [UInt8],
                                       encryptionKey: [UInt8], integrityKey: [UInt8], sequenceHigh: UInt32,
                                       esn: Bool, ivLength: Int, icvLength: Int) throws {
        let header = Array(packet[0..<8])
        let iv = Array(packet[8..<(8 + ivLength)])
        let body = Array(packet[(8 + ivLength)..<(packet.count - icvLength)])
        let icv = Array(packet.suffix(icvLength))
        let aadHeader = esn ? Array(header[0..<4]) + bigEndianBytes(sequenceHigh) + Array(header[4..<8]) : header
        switch pair.encryption {
        case .aesGCM16, .chacha20Poly1305:
            let reference = try referenceAEAD(pair.encryption, keyMaterial: encryptionKey, iv: iv,
                                              aad: aadHeader, plaintext: plaintext)
            #expect(body == reference.ciphertext)
            #expect(icv == reference.tag)
        case .aesGMAC:
            // RFC 4543 §3.3: nothing encrypted; AAD = SPI ‖ [SeqHi] ‖ Seq ‖ IV ‖ payload.
            let reference = try referenceAEAD(pair.encryption, keyMaterial: encryptionKey, iv: iv,
                                              aad: aadHeader + iv + plaintext, plaintext: [])
            #expect(body == plaintext)
            #expect(icv == reference.tag)
        case .aesCBC, .null:
            // RFC 4303 §3.3.2.1: the MAC covers header ‖ IV ‖ ciphertext, then SeqHi if ESN.
            if pair.encryption == .null { #expect(body == plaintext) } else if !plaintext.isEmpty { #expect(body != plaintext) }
            let covered = Array(packet[0..<(packet.count - icvLength)]) + (esn ? bigEndianBytes(sequenceHigh) : [])
            let reference = referenceHMAC(pair.integrity, key: integrityKey, data: covered)
            #expect(icv == Array(reference.prefix(icvLength)))
        }
    }

    /// IntegrityMAC, fed in random pieces, against swift-crypto's HMAC.
    @Test(arguments: [IntegrityAlgorithm.hmacSHA1_96, .hmacSHA256_128, .hmacSHA384_192, .hmacSHA512_256])
    func integrityMACMatchesSwiftCrypto(_ algorithm: IntegrityAlgorithm) throws {
        var rng = SeededRandom(seed: 0xA11CE)
        let key = randomBytes(algorithm.keyLength, using: &rng)
        let mac = try IntegrityMAC(algorithm: algorithm, key: key)
        #expect(mac.icvLength == algorithm.icvLength)
        for _ in 0..<30 {
            let data = randomBytes(Int.random(in: 0...2000, using: &rng), using: &rng)
            var icv = [UInt8](repeating: 0, count: mac.icvLength)
            mac.start()
            var offset = 0
            data.withUnsafeBytes { bytes in
                while offset < data.count {
                    let piece = min(Int.random(in: 1...300, using: &rng), data.count - offset)
                    mac.update(bytes.baseAddress! + offset, count: piece)
                    offset += piece
                }
            }
            icv.withUnsafeMutableBytes { mac.finish(into: $0.baseAddress!) }
            #expect(icv == Array(referenceHMAC(algorithm, key: key, data: data).prefix(mac.icvLength)))
        }
    }
}
