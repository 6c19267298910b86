import Testing
@testable import TernCrypto

/// Hostile and malformed input: open must refuse it and never crash; init must refuse bad
/// keys and bad combinations with a message that names lengths, never key bytes.
@Suite struct NegativeTests {
    private func sealed(_ pair: TransformPair, esn: Bool = true, size: Int = 32)
        throws -> (ESPCipher, packet: [UInt8], plaintext: [UInt8], high: UInt32) {
        var rng = SeededRandom(seed: 11)
        let (cipher, _, _) = try makeCipher(pair.encryption, pair.integrity, using: &rng)
        let plaintext = randomBytes(size, using: &rng)
        let sequence: UInt64 = 0x0000_0002_0000_0010
        let packet = try #require(sealPacket(cipher, spi: 0xABCD, sequence: sequence, esn: esn, plaintext: plaintext))
        #expect(openPacket(cipher, packet, sequenceHigh: 2, esn: esn) == plaintext, "control: the intact packet opens")
        return (cipher, packet, plaintext, 2)
    }

    /// Flipping any one bit anywhere the ICV covers, or in the ICV itself, makes open fail.
    @Test(arguments: TransformPair.all)
    func everyBitFlipIsRejected(_ pair: TransformPair) throws {
        let (cipher, packet, _, high) = try sealed(pair)
        for index in packet.indices {
            for bit in [0, 7] {
                var forged = packet
                forged[index] ^= UInt8(1 << bit)
                #expect(openPacket(cipher, forged, sequenceHigh: high, esn: true) == nil,
                        "\(pair.testDescription): flipped bit \(bit) of byte \(index)")
            }
        }
    }

    /// With ESN the high half is authenticated although never sent: the wrong guess fails.
    @Test(arguments: TransformPair.all)
    func wrongSequenceHighIsRejected(_ pair: TransformPair) throws {
        let (cipher, packet, _, high) = try sealed(pair)
        #expect(openPacket(cipher, packet, sequenceHigh: high &+ 1, esn: true) == nil)
        #expect(openPacket(cipher, packet, sequenceHigh: high, esn: false) == nil)
    }

    /// Every shorter length, down to 0, is refused without reading out of bounds.
    @Test(arguments: TransformPair.all)
    func truncatedPacketsAreRejected(_ pair: TransformPair) throws {
        let (cipher, packet, _, high) = try sealed(pair)
        for length in 0..<packet.count {
            #expect(openPacket(cipher, Array(packet.prefix(length)), length: length, sequenceHigh: high, esn: true) == nil,
                    "\(pair.testDescription): length \(length)")
        }
        #expect(openPacket(cipher, packet, length: -1, sequenceHigh: high, esn: true) == nil)
    }

    /// A forged AEAD packet must not leave unauthenticated plaintext behind.
    @Test(arguments: TransformPair.all.filter { $0.encryption.providesConfidentiality && $0.encryption.isCombinedMode })
    func failedAEADOpenWipesThePayload(_ pair: TransformPair) throws {
        let (cipher, packet, _, high) = try sealed(pair)
        var forged = packet
        forged[forged.count - 1] ^= 1
        let opened = forged.withUnsafeMutableBytes {
            cipher.open(esp: $0.baseAddress!, totalLength: $0.count, sequenceHigh: high, esn: true)
        }
        #expect(!opened)
        #expect(forged[16..<(forged.count - 16)].allSatisfy { $0 == 0 })
    }

    @Test(arguments: TransformPair.all.filter { $0.encryption.blockSize == 16 })
    func cbcNeedsWholeBlocks(_ pair: TransformPair) throws {
        var rng = SeededRandom(seed: 12)
        let (cipher, _, _) = try makeCipher(pair.encryption, pair.integrity, using: &rng)
        #expect(sealPacket(cipher, spi: 1, sequence: 1, esn: false, plaintext: [UInt8](repeating: 1, count: 15)) == nil)
        #expect(sealPacket(cipher, spi: 1, sequence: 1, esn: false, plaintext: [UInt8](repeating: 1, count: 33)) == nil)
        // A packet whose ciphertext is not whole blocks is refused before any MAC work.
        let packet = [UInt8](repeating: 0, count: 8 + 16 + 20 + cipher.icvLength)
        #expect(openPacket(cipher, packet, sequenceHigh: 0, esn: false) == nil)
    }

    @Test func sealRefusesNegativeLength() throws {
        var rng = SeededRandom(seed: 13)
        let (cipher, _, _) = try makeCipher(.aesGCM16(keyBits: 128), .none, using: &rng)
        var packet = [UInt8](repeating: 0, count: 64)
        let sealed = packet.withUnsafeMutableBytes {
            cipher.seal(esp: $0.baseAddress!, plaintextLength: -1, sequence: 1, esn: false)
        }
        #expect(!sealed)
    }

    // MARK: init validation

    private func initError(_ encryption: EncryptionAlgorithm, _ encryptionKeyLength: Int,
                           _ integrity: IntegrityAlgorithm, _ integrityKeyLength: Int) -> CryptoError? {
        let encryptionKey = [UInt8](repeating: 0xAB, count: encryptionKeyLength)
        let integrityKey = [UInt8](repeating: 0xCD, count: integrityKeyLength)
        do {
            _ = try ESPCipher(encryption: encryption, encryptionKey: encryptionKey,
                              integrity: integrity, integrityKey: integrityKey)
            return nil
        } catch {
            #expect(!error.message.lowercased().contains("abab") && !error.message.lowercased().contains("cdcd"),
                    "error messages must not carry key bytes")
            return error
        }
    }

    @Test(arguments: allEncryptionAlgorithms)
    func wrongEncryptionKeyLengthIsRefused(_ encryption: EncryptionAlgorithm) throws {
        let integrity: IntegrityAlgorithm = encryption.isCombinedMode ? .none : .hmacSHA256_128
        for length in [encryption.keyMaterialLength - 1, encryption.keyMaterialLength + 1] where length >= 0 {
            let error = try #require(initError(encryption, length, integrity, integrity.keyLength))
            #expect(error.message.contains("\(encryption)"))
            #expect(error.message.contains("\(encryption.keyMaterialLength) bytes"))
            #expect(error.message.contains("got \(length)"))
        }
        #expect(initError(encryption, encryption.keyMaterialLength, integrity, integrity.keyLength) == nil)
    }

    @Test(arguments: allIntegrityAlgorithms.filter { $0 != .none })
    func wrongIntegrityKeyLengthIsRefused(_ integrity: IntegrityAlgorithm) throws {
        for length in [0, 16, integrity.keyLength - 1, integrity.keyLength + 1] where length != integrity.keyLength {
            let error = try #require(initError(.aesCBC(keyBits: 128), 16, integrity, length))
            #expect(error.message.contains("\(integrity)"))
            #expect(error.message.contains("\(integrity.keyLength) bytes, got \(length)"))
        }
    }

    @Test func wrongCombinationsAreRefused() throws {
        let combinedWithHMAC = try #require(initError(.aesGCM16(keyBits: 256), 36, .hmacSHA256_128, 32))
        #expect(combinedWithHMAC.message.contains("combined-mode"))
        #expect(initError(.chacha20Poly1305, 36, .hmacSHA1_96, 20) != nil)
        #expect(initError(.aesGMAC(keyBits: 128), 20, .hmacSHA512_256, 64) != nil)
        let cbcAlone = try #require(initError(.aesCBC(keyBits: 128), 16, .none, 0))
        #expect(cbcAlone.message.contains("integrity"))
        #expect(initError(.null, 0, .none, 0) != nil)
    }

    @Test func invalidAESKeySizesAreRefused() throws {
        for encryption: EncryptionAlgorithm in [.aesCBC(keyBits: 64), .aesGCM16(keyBits: 512), .aesGMAC(keyBits: 0),
                                                .aesCBC(keyBits: 160)] {
            let integrity: IntegrityAlgorithm = encryption.isCombinedMode ? .none : .hmacSHA256_128
            let error = try #require(initError(encryption, max(encryption.keyMaterialLength, 0), integrity, integrity.keyLength))
            #expect(error.message.contains("128, 192 or 256"))
        }
    }

    @Test func integrityMACValidatesToo() throws {
        #expect(throws: CryptoError.self) { try IntegrityMAC(algorithm: .none, key: []) }
        #expect(throws: CryptoError.self) { try IntegrityMAC(algorithm: .hmacSHA256_128, key: [UInt8](repeating: 1, count: 20)) }
        #expect(throws: CryptoError.self) { try IntegrityMAC(algorithm: .hmacSHA1_96, key: [UInt8](repeating: 1, count: 32)) }
        #expect(throws: Never.self) { try IntegrityMAC(algorithm: .hmacSHA384_192, key: [UInt8](repeating: 1, count: 48)) }
    }

    @Test func constantTimeEqualCompares() {
        let a: [UInt8] = [1, 2, 3, 4, 5]
        var b = a
        a.withUnsafeBytes { x in b.withUnsafeBytes { y in
            #expect(constantTimeEqual(x.baseAddress!, y.baseAddress!, count: 5))
            #expect(constantTimeEqual(x.baseAddress!, y.baseAddress!, count: 0))
        } }
        b[4] = 6
        a.withUnsafeBytes { x in b.withUnsafeBytes { y in
            #expect(!constantTimeEqual(x.baseAddress!, y.baseAddress!, count: 5))
            #expect(constantTimeEqual(x.baseAddress!, y.baseAddress!, count: 4))
        } }
    }
}
