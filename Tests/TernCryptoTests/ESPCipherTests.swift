import Testing
@testable import TernCrypto

@Suite struct ESPCipherTests {
    // MARK: Shape

    @Test(arguments: TransformPair.all)
    func lengthsFollowTheTransforms(_ pair: TransformPair) throws {
        var rng = SeededRandom(seed: 1)
        let (cipher, _, _) = try makeCipher(pair.encryption, pair.integrity, using: &rng)
        #expect(cipher.ivLength == pair.encryption.ivLength)
        #expect(cipher.blockSize == (pair.encryption.blockSize))
        #expect(cipher.icvLength == (pair.encryption.isCombinedMode ? 16 : pair.integrity.icvLength))
        switch pair.encryption {
        case .aesCBC: #expect(cipher.ivLength == 16 && cipher.blockSize == 16)
        case .null: #expect(cipher.ivLength == 0 && cipher.blockSize == 4)
        default: #expect(cipher.ivLength == 8 && cipher.blockSize == 4 && cipher.icvLength == 16)
        }
    }

    // MARK: copy()

    /// A copy shares keys, salt and IV mask: same input, byte-identical packet; and each opens
    /// the other's packets.
    @Test(arguments: TransformPair.all)
    func copyProducesIdenticalOutput(_ pair: TransformPair) throws {
        var rng = SeededRandom(seed: 2)
        let (original, _, _) = try makeCipher(pair.encryption, pair.integrity, using: &rng)
        let copy = original.copy()
        #expect(copy.ivLength == original.ivLength && copy.icvLength == original.icvLength
                && copy.blockSize == original.blockSize)
        for esn in [false, true] {
            let plaintext = randomBytes(64, using: &rng)
            let sequence: UInt64 = esn ? 0x1_0000_0005 : 5
            let a = try #require(sealPacket(original, spi: 0x1234, sequence: sequence, esn: esn, plaintext: plaintext))
            let b = try #require(sealPacket(copy, spi: 0x1234, sequence: sequence, esn: esn, plaintext: plaintext))
            #expect(a == b)
            #expect(openPacket(copy, a, sequenceHigh: esn ? 1 : 0, esn: esn) == plaintext)
            #expect(openPacket(original, b, sequenceHigh: esn ? 1 : 0, esn: esn) == plaintext)
        }
        // The copy lives on after the original is gone.
        let survivor = original.copy()
        _ = consume original
        let packet = try #require(sealPacket(survivor, spi: 1, sequence: 9, esn: false, plaintext: [1, 2, 3, 4]
            + [UInt8](repeating: 0, count: 12)))
        #expect(openPacket(copy, packet, sequenceHigh: 0, esn: false) == [1, 2, 3, 4] + [UInt8](repeating: 0, count: 12))
    }

    /// Two peers build their contexts independently from the same keys (different IV masks):
    /// each still opens what the other seals, because the IV travels in the packet.
    @Test(arguments: TransformPair.all)
    func independentContextsInteroperate(_ pair: TransformPair) throws {
        var rng = SeededRandom(seed: 3)
        let (sender, encryptionKey, integrityKey) = try makeCipher(pair.encryption, pair.integrity, using: &rng)
        let receiver = try ESPCipher(encryption: pair.encryption, encryptionKey: encryptionKey,
                                     integrity: pair.integrity, integrityKey: integrityKey)
        for sequence: UInt64 in [1, 2, 0xFFFF_FFFF, 0x1_0000_0000, .max] {
            let plaintext = randomBytes(pair.encryption.blockSize == 16 ? 48 : 42, using: &rng)
            let high = UInt32(truncatingIfNeeded: sequence >> 32)
            let packet = try #require(sealPacket(sender, spi: 0xC0FFEE, sequence: sequence, esn: true, plaintext: plaintext))
            #expect(openPacket(receiver, packet, sequenceHigh: high, esn: true) == plaintext)
        }
    }

    // MARK: IV derivation

    /// AEAD IVs are the sequence number XOR a per-SA mask (Linux seqiv): unique per sequence
    /// number, and two IVs XOR to the XOR of their sequence numbers.
    @Test(arguments: TransformPair.all.filter { $0.encryption.isCombinedMode })
    func aeadIVIsMaskedSequence(_ pair: TransformPair) throws {
        var rng = SeededRandom(seed: 4)
        let (cipher, _, _) = try makeCipher(pair.encryption, pair.integrity, using: &rng)
        let first = try #require(sealPacket(cipher, spi: 1, sequence: 1, esn: false, plaintext: [1, 2, 3, 4]))
        let second = try #require(sealPacket(cipher, spi: 1, sequence: 0x1234_5678_9ABC, esn: false, plaintext: [1, 2, 3, 4]))
        let iv1 = first[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let iv2 = second[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(iv1 ^ iv2 == 1 ^ 0x1234_5678_9ABC)
    }

    /// CBC IVs are AES_K(mask ‖ sequence): deterministic for a context, different per sequence
    /// number and per SA, and nothing like the sequence number.
    @Test(arguments: TransformPair.all.filter { $0.encryption.blockSize == 16 })
    func cbcIVIsEncryptedNonce(_ pair: TransformPair) throws {
        var rng = SeededRandom(seed: 5)
        let (cipher, encryptionKey, integrityKey) = try makeCipher(pair.encryption, pair.integrity, using: &rng)
        let other = try ESPCipher(encryption: pair.encryption, encryptionKey: encryptionKey,
                                  integrity: pair.integrity, integrityKey: integrityKey)
        let plaintext = [UInt8](repeating: 0, count: 16)
        let a = try #require(sealPacket(cipher, spi: 1, sequence: 7, esn: false, plaintext: plaintext))
        let b = try #require(sealPacket(cipher, spi: 1, sequence: 7, esn: false, plaintext: plaintext))
        let c = try #require(sealPacket(cipher, spi: 1, sequence: 8, esn: false, plaintext: plaintext))
        let d = try #require(sealPacket(other, spi: 1, sequence: 7, esn: false, plaintext: plaintext))
        #expect(a[8..<24] == b[8..<24])
        #expect(a[8..<24] != c[8..<24])
        #expect(a[8..<24] != d[8..<24])
        #expect(a[8..<22].allSatisfy { $0 == 0 } == false)
    }
}
