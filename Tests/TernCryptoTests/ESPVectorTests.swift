import Testing
@testable import TernCrypto

/// Published ESP packets, sealed and opened byte for byte. The vectors fix the IV, so sealing
/// goes through `sealWithIVInPlace` (the data plane's `seal` derives the IV itself).
@Suite struct ESPVectorTests {
    static let gcm = loadVectors("esp-aes-gcm-draft-mcgrew-gcm-test-01.txt")
    static let chacha = loadVectors("esp-chacha20poly1305-rfc7634.txt")
    static let cbc = loadVectors("esp-aes-cbc-rfc3602.txt")

    @Test func vectorFilesAreThere() {
        #expect(Self.gcm.count == 16)
        #expect(Self.gcm.contains { $0.string("esn") == "1" } && Self.gcm.contains { $0.string("esn") == "0" })
        #expect(Set(Self.gcm.map { $0.string("algorithm") }) == ["aes-gcm-16-128", "aes-gcm-16-192", "aes-gcm-16-256"])
        #expect(Self.chacha.count == 1)
        #expect(Self.cbc.count == 4)
    }

    @Test(arguments: gcm + chacha)
    func combinedModePacket(_ vector: VectorRecord) throws {
        let cipher = try ESPCipher(encryption: vector.encryption, encryptionKey: vector.hex("key"),
                                   integrity: .none, integrityKey: [])
        let expected = vector.hex("packet")
        let plaintext = vector.hex("plaintext")
        let sequence = vector.uint64("sequence")
        let esn = vector.string("esn") == "1"
        #expect(expected.count == 8 + 8 + plaintext.count + 16)

        // Seal: the caller's header and plaintext, the vector's IV.
        var packet = [UInt8](repeating: 0, count: expected.count)
        packet.replaceSubrange(0..<8, with: expected[0..<8])
        packet.replaceSubrange(8..<16, with: vector.hex("iv"))
        packet.replaceSubrange(16..<(16 + plaintext.count), with: plaintext)
        let sealed = packet.withUnsafeMutableBytes {
            cipher.sealWithIVInPlace(esp: $0.baseAddress!, plaintextLength: plaintext.count,
                                     sequenceHigh: UInt32(truncatingIfNeeded: sequence >> 32), esn: esn)
        }
        #expect(sealed)
        #expect(hexString(packet) == hexString(expected))

        // Open the published packet.
        let opened = openPacket(cipher, expected, sequenceHigh: UInt32(truncatingIfNeeded: sequence >> 32), esn: esn)
        #expect(opened.map(hexString) == hexString(plaintext))
    }

    /// RFC 3602 cases 5-8 carry no ICV, so they check encryption only: the ciphertext part of
    /// our sealed packet must match, and open must give the plaintext back.
    @Test(arguments: cbc)
    func cbcPacket(_ vector: VectorRecord) throws {
        let cipher = try ESPCipher(encryption: vector.encryption, encryptionKey: vector.hex("key"),
                                   integrity: .hmacSHA256_128, integrityKey: [UInt8](repeating: 7, count: 32))
        let expected = vector.hex("packet")
        let plaintext = vector.hex("plaintext")
        var packet = [UInt8](repeating: 0, count: expected.count + cipher.icvLength)
        packet.replaceSubrange(0..<8, with: expected[0..<8])
        packet.replaceSubrange(8..<24, with: vector.hex("iv"))
        packet.replaceSubrange(24..<(24 + plaintext.count), with: plaintext)
        let sealed = packet.withUnsafeMutableBytes {
            cipher.sealWithIVInPlace(esp: $0.baseAddress!, plaintextLength: plaintext.count, sequenceHigh: 0, esn: false)
        }
        #expect(sealed)
        #expect(hexString(packet[0..<expected.count]) == hexString(expected))
        #expect(openPacket(cipher, packet, sequenceHigh: 0, esn: false).map(hexString) == hexString(plaintext))
    }
}

@Suite struct HMACVectorTests {
    static let rfc2202and4231 = loadVectors("hmac-rfc2202-rfc4231.txt")
    static let rfc4868 = loadVectors("hmac-rfc4868.txt")

    @Test func vectorFilesAreThere() {
        #expect(Self.rfc2202and4231.count == 7 + 7 * 3)
        #expect(Self.rfc4868.count == 4)
    }

    /// Arbitrary key lengths, so through the package-internal unvalidated init.
    @Test(arguments: rfc2202and4231)
    func publishedMAC(_ vector: VectorRecord) throws {
        let mac = try IntegrityMAC(algorithm: vector.integrity, anyLengthKey: vector.hex("key"))
        let data = vector.hex("data")
        let expected = vector.hex("mac")
        var digest = [UInt8](repeating: 0, count: mac.digestLength)
        // Feed in two pieces to exercise the incremental path.
        let split = data.count / 3
        mac.start()
        data.withUnsafeBytes {
            mac.update($0.baseAddress!, count: split)
            mac.update($0.baseAddress! + split, count: data.count - split)
        }
        digest.withUnsafeMutableBytes { mac.finishFull(into: $0.baseAddress!) }
        #expect(hexString(digest.prefix(expected.count)) == hexString(expected))
    }

    /// RFC 4868 keys are hash-length, so the public API takes them; the ICV is the first 16 bytes.
    @Test(arguments: rfc4868)
    func rfc4868Truncated(_ vector: VectorRecord) throws {
        let mac = try IntegrityMAC(algorithm: .hmacSHA256_128, key: vector.hex("key"))
        #expect(mac.icvLength == 16)
        let data = vector.hex("data")
        var icv = [UInt8](repeating: 0, count: mac.icvLength + 4)
        mac.start()
        data.withUnsafeBytes { mac.update($0.baseAddress!, count: $0.count) }
        icv.withUnsafeMutableBytes { mac.finish(into: $0.baseAddress!) }
        #expect(hexString(icv.prefix(16)) == hexString(vector.hex("mac").prefix(16)))
        #expect(icv.suffix(4) == [0, 0, 0, 0], "finish must write exactly icvLength bytes")
    }
}
