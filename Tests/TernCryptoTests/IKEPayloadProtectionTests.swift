import Crypto
import Testing
@testable import TernCrypto

/// SK payload bodies: round trips, tampering, wrong keys, padding, and the construction
/// checked against swift-crypto and HMAC directly.
@Suite struct IKEPayloadProtectionTests {
    struct Combination: CustomTestStringConvertible, Sendable {
        let encryption: EncryptionAlgorithm
        let integrity: IntegrityAlgorithm
        var testDescription: String { "\(encryption)+\(integrity)" }
    }

    /// Every pair IKE accepts: AES-CBC-128/192/256 × each HMAC, AES-GCM-16-128/192/256, ChaCha20-Poly1305.
    static let combinations: [Combination] = IKEKeyDerivationTests.ikePairs.map { Combination(encryption: $0.0, integrity: $0.1) }

    static func make(_ combination: Combination, seed: UInt64 = 1) throws -> IKEPayloadProtection {
        var rng = SeededRandom(seed: seed)
        return try IKEPayloadProtection(encryption: combination.encryption, integrity: combination.integrity,
                                        encryptionKey: randomBytes(combination.encryption.keyMaterialLength, using: &rng),
                                        integrityKey: randomBytes(combination.integrity.keyLength, using: &rng))
    }

    /// A made-up IKE header (28 bytes) ‖ SK payload header (4 bytes).
    static let aad: [UInt8] = Array(0..<32)

    @Test func combinationCount() {
        #expect(Self.combinations.count == 3 * 4 + 3 + 1)
    }

    @Test(arguments: combinations)
    func roundTripAtManyLengths(_ combination: Combination) throws {
        let protection = try Self.make(combination)
        #expect(protection.ivLength == (combination.integrity == .none ? 8 : 16))
        #expect(protection.icvLength == (combination.integrity == .none ? 16 : combination.integrity.icvLength))
        var rng = SeededRandom(seed: 2)
        for length in [0, 1, 14, 15, 16, 17, 31, 32, 100, 1000] {
            let plaintext = randomBytes(length, using: &rng)
            let iv = randomBytes(protection.ivLength, using: &rng)
            let body = protection.seal(plaintext: plaintext, aad: Self.aad, iv: iv)
            #expect(body.count == protection.bodyLength(plaintextLength: length))
            #expect(Array(body.prefix(protection.ivLength)) == iv)
            let encrypted = body.count - protection.ivLength - protection.icvLength
            if case .aesCBC = combination.encryption {
                #expect(encrypted % 16 == 0 && encrypted >= length + 1 && encrypted <= length + 16)
            } else {
                #expect(encrypted == length + 1)  // AEAD: no padding, just the pad length byte
            }
            #expect(try protection.open(body: body[...], aad: Self.aad) == plaintext)
        }
    }

    /// Changing any byte of the AAD (IKE and SK headers), the IV, the ciphertext or the ICV
    /// makes open fail with "integrity check failed".
    @Test(arguments: combinations)
    func everyTamperedByteIsRejected(_ combination: Combination) throws {
        let protection = try Self.make(combination)
        var rng = SeededRandom(seed: 3)
        let body = protection.seal(plaintext: randomBytes(40, using: &rng), aad: Self.aad, iv: randomBytes(protection.ivLength, using: &rng))
        for index in Self.aad.indices {
            var aad = Self.aad
            aad[index] ^= 0x80
            #expect(throws: TernCrypto.CryptoError("integrity check failed")) { try protection.open(body: body[...], aad: aad) }
        }
        for index in body.indices {
            var forged = body
            forged[index] ^= 0x01
            #expect(throws: TernCrypto.CryptoError("integrity check failed"), "byte \(index)") { try protection.open(body: forged[...], aad: Self.aad) }
        }
        #expect(throws: TernCrypto.CryptoError.self) { try protection.open(body: body[...], aad: Self.aad + [0]) }
    }

    @Test(arguments: combinations)
    func wrongKeyIsRejected(_ combination: Combination) throws {
        let sender = try Self.make(combination, seed: 10)
        let stranger = try Self.make(combination, seed: 11)
        let body = sender.seal(plaintext: [1, 2, 3], aad: Self.aad, iv: [UInt8](repeating: 7, count: sender.ivLength))
        #expect(throws: TernCrypto.CryptoError("integrity check failed")) { try stranger.open(body: body[...], aad: Self.aad) }
        if combination.integrity != .none {
            // Right integrity key, wrong encryption key: the ICV passes, decryption gives garbage,
            // which must either fail the padding check or at least not return the plaintext.
            var rng = SeededRandom(seed: 10)
            let encryptionKey = randomBytes(combination.encryption.keyMaterialLength, using: &rng)
            let integrityKey = randomBytes(combination.integrity.keyLength, using: &rng)
            var otherKey = encryptionKey
            otherKey[0] ^= 1
            let halfWrong = try IKEPayloadProtection(encryption: combination.encryption, integrity: combination.integrity,
                                                     encryptionKey: otherKey, integrityKey: integrityKey)
            #expect((try? halfWrong.open(body: body[...], aad: Self.aad)) != [1, 2, 3])
        }
    }

    /// Bodies too short to hold IV, one encrypted byte (a block for CBC) and ICV, and CBC
    /// ciphertexts that are not whole blocks, are refused before any crypto.
    @Test(arguments: combinations)
    func shortAndMisalignedBodiesAreRejected(_ combination: Combination) throws {
        let protection = try Self.make(combination)
        let minimum = protection.ivLength + (combination.integrity == .none ? 1 : 16) + protection.icvLength
        for length in 0..<minimum {
            #expect(throws: TernCrypto.CryptoError.self) {
                try protection.open(body: [UInt8](repeating: 0, count: length)[...], aad: Self.aad)
            }
        }
        if combination.integrity != .none {
            #expect(throws: TernCrypto.CryptoError.self) {
                try protection.open(body: [UInt8](repeating: 0, count: minimum + 1)[...], aad: Self.aad)
            }
        }
    }

    /// Open works on a slice of a larger message (indices not starting at 0).
    @Test func openAcceptsASliceOfTheMessage() throws {
        let protection = try Self.make(Combination(encryption: .aesCBC(keyBits: 256), integrity: .hmacSHA256_128))
        let body = protection.seal(plaintext: [9, 8, 7], aad: Self.aad, iv: [UInt8](repeating: 3, count: 16))
        let message = Self.aad + body
        #expect(try protection.open(body: message[32...], aad: Self.aad) == [9, 8, 7])
    }

    /// AEAD: the body is IV ‖ AES-GCM / ChaCha20-Poly1305 over (inner ‖ 0x00) with nonce
    /// salt ‖ IV and the headers as AAD (RFC 5282 §5.1, RFC 7634 §3).
    @Test func aeadConstructionMatchesRFC5282() throws {
        var rng = SeededRandom(seed: 4)
        for encryption in [EncryptionAlgorithm.aesGCM16(keyBits: 128), .aesGCM16(keyBits: 256), .chacha20Poly1305] {
            let key = randomBytes(encryption.keyMaterialLength, using: &rng)
            let protection = try IKEPayloadProtection(encryption: encryption, integrity: .none, encryptionKey: key, integrityKey: [])
            let plaintext = randomBytes(21, using: &rng), iv = randomBytes(8, using: &rng)
            let body = protection.seal(plaintext: plaintext, aad: Self.aad, iv: iv)
            let cipherKey = SymmetricKey(data: key.dropLast(4)), salt = Array(key.suffix(4))
            let expected: [UInt8]
            if encryption == .chacha20Poly1305 {
                let box = try ChaChaPoly.seal(plaintext + [0], using: cipherKey, nonce: ChaChaPoly.Nonce(data: salt + iv), authenticating: Self.aad)
                expected = iv + Array(box.ciphertext) + Array(box.tag)
            } else {
                let box = try AES.GCM.seal(plaintext + [0], using: cipherKey, nonce: AES.GCM.Nonce(data: salt + iv), authenticating: Self.aad)
                expected = iv + Array(box.ciphertext) + Array(box.tag)
            }
            #expect(body == expected, "\(encryption)")
        }
    }

    /// CBC: the ICV is HMAC(aad ‖ IV ‖ ciphertext) truncated (RFC 7296 §3.14, RFC 4868).
    @Test func cbcICVCoversHeadersIVAndCiphertext() throws {
        let integrityKey = [UInt8](repeating: 0x42, count: 32)
        let protection = try IKEPayloadProtection(encryption: .aesCBC(keyBits: 128), integrity: .hmacSHA256_128,
                                                  encryptionKey: [UInt8](repeating: 1, count: 16), integrityKey: integrityKey)
        let body = protection.seal(plaintext: Array(0..<20), aad: Self.aad, iv: [UInt8](repeating: 9, count: 16))
        #expect(body.count == 16 + 32 + 16)
        let mac = HMAC<SHA256>.authenticationCode(for: Self.aad + body.dropLast(16), using: SymmetricKey(data: integrityKey))
        #expect(Array(body.suffix(16)) == Array(Array(mac).prefix(16)))
    }

    /// A pad length longer than the data before it is "malformed padding", even when the ICV
    /// is right (so the check is not just the integrity check in disguise).
    @Test func padLengthBeyondTheDataIsRejected() throws {
        let key = [UInt8](repeating: 0x33, count: 20)
        let protection = try IKEPayloadProtection(encryption: .aesGCM16(keyBits: 128), integrity: .none, encryptionKey: key, integrityKey: [])
        let iv = [UInt8](repeating: 5, count: 8)
        func body(_ decrypted: [UInt8]) throws -> [UInt8] {
            let box = try AES.GCM.seal(decrypted, using: SymmetricKey(data: key.prefix(16)),
                                       nonce: AES.GCM.Nonce(data: Array(key.suffix(4)) + iv), authenticating: Self.aad)
            return iv + Array(box.ciphertext) + Array(box.tag)
        }
        #expect(throws: TernCrypto.CryptoError.self) { try protection.open(body: try body([0x01])[...], aad: Self.aad) }
        #expect(throws: TernCrypto.CryptoError.self) { try protection.open(body: try body([7, 7, 7, 0xFF])[...], aad: Self.aad) }
        let shortPadding = try body([1, 2, 3])
        do {
            _ = try protection.open(body: shortPadding[...], aad: Self.aad)
            Issue.record("pad length 3 after 2 bytes was accepted")
        } catch {
            #expect(error.message.hasPrefix("malformed padding"))
        }
        // Padding that exactly fills the data before it is fine, whatever its contents.
        #expect(try protection.open(body: try body([0xAA, 0xBB, 2])[...], aad: Self.aad) == [])
        #expect(try protection.open(body: try body([0x10, 0xAA, 0xBB, 2])[...], aad: Self.aad) == [0x10])
    }

    /// CBC with a valid ICV over random ciphertext: decryption yields a random last byte, so
    /// open either succeeds with at most 15 bytes or reports malformed padding, never more.
    @Test func cbcPaddingIsCheckedAfterTheICV() throws {
        let integrityKey = [UInt8](repeating: 0x24, count: 20)
        let protection = try IKEPayloadProtection(encryption: .aesCBC(keyBits: 128), integrity: .hmacSHA1_96,
                                                  encryptionKey: [UInt8](repeating: 2, count: 16), integrityKey: integrityKey)
        var rng = SeededRandom(seed: 8)
        var malformed = 0
        for _ in 0..<16 {
            let ivAndBlock = randomBytes(32, using: &rng)
            let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Self.aad + ivAndBlock, using: SymmetricKey(data: integrityKey))
            let body = ivAndBlock + Array(mac).prefix(12)
            do {
                let inner = try protection.open(body: body[...], aad: Self.aad)
                #expect(inner.count <= 15)
            } catch {
                #expect(error.message.hasPrefix("malformed padding"))
                malformed += 1
            }
        }
        #expect(malformed > 0)
    }

    @Test func initRefusesBadCombinationsAndKeyLengths() {
        let cases: [(EncryptionAlgorithm, IntegrityAlgorithm, Int, Int)] = [
            (.aesGCM16(keyBits: 256), .hmacSHA256_128, 36, 32),  // AEAD with INTEG
            (.aesCBC(keyBits: 256), .none, 32, 0),                // CBC without INTEG
            (.null, .hmacSHA256_128, 0, 32),                      // no confidentiality
            (.aesGMAC(keyBits: 128), .none, 20, 0),
            (.aesCBC(keyBits: 100), .hmacSHA256_128, 12, 32),     // bad AES size
            (.aesCBC(keyBits: 128), .hmacSHA256_128, 17, 32),     // SK_e length
            (.aesCBC(keyBits: 128), .hmacSHA256_128, 16, 16),     // SK_a length
            (.aesGCM16(keyBits: 128), .none, 16, 0),              // salt missing
            (.chacha20Poly1305, .none, 32, 0),
        ]
        for (encryption, integrity, encryptionLength, integrityLength) in cases {
            #expect(throws: TernCrypto.CryptoError.self, "\(encryption)+\(integrity) \(encryptionLength)/\(integrityLength)") {
                try IKEPayloadProtection(encryption: encryption, integrity: integrity,
                                         encryptionKey: [UInt8](repeating: 0, count: encryptionLength),
                                         integrityKey: [UInt8](repeating: 0, count: integrityLength))
            }
        }
    }
}
