import Testing
@testable import TernCrypto

/// The per-packet path must not allocate (DESIGN.md, "The data plane must be fast"). The shim
/// counts libcrypto's allocations per thread; each test body is synchronous, so it stays on
/// one thread between the two readings.
@Suite struct AllocationTests {
    @Test func counterSeesKeyScheduleAllocations() throws {
        let before = try #require(libcryptoAllocationsOnThisThread(), "the counting allocator is not installed")
        var rng = SeededRandom(seed: 21)
        let (cipher, _, _) = try makeCipher(.aesGCM16(keyBits: 256), .none, using: &rng)
        let afterInit = try #require(libcryptoAllocationsOnThisThread())
        #expect(afterInit > before, "building a context allocates, so the counter must move")
        _ = cipher.copy()
        #expect(try #require(libcryptoAllocationsOnThisThread()) > afterInit, "copy() allocates a new context")
    }

    @Test(arguments: TransformPair.all)
    func sealAndOpenDoNotAllocateInLibcrypto(_ pair: TransformPair) throws {
        var rng = SeededRandom(seed: 22)
        let (cipher, _, _) = try makeCipher(pair.encryption, pair.integrity, using: &rng)
        let plaintextLength = 1024
        var buffer = [UInt8](repeating: 0x5A, count: 8 + cipher.ivLength + plaintextLength + cipher.icvLength)
        var failures = 0
        let delta = try buffer.withUnsafeMutableBytes { packet -> Int64 in
            let esp = packet.baseAddress!
            func roundTrip(_ sequence: UInt64, esn: Bool) {
                if !cipher.seal(esp: esp, plaintextLength: plaintextLength, sequence: sequence, esn: esn) { failures += 1 }
                if !cipher.open(esp: esp, totalLength: packet.count, sequenceHigh: UInt32(truncatingIfNeeded: sequence >> 32),
                                esn: esn) { failures += 1 }
            }
            roundTrip(1, esn: false)  // warm up: anything lazily set up on first use is not per packet
            let before = try #require(libcryptoAllocationsOnThisThread())
            for sequence in UInt64(2)..<200 { roundTrip(sequence << 20, esn: sequence % 2 == 0) }
            // Failed opens (forged packets) must not allocate either.
            esp.storeBytes(of: 0xFF, toByteOffset: packet.count - 1, as: UInt8.self)
            _ = cipher.open(esp: esp, totalLength: packet.count, sequenceHigh: 0, esn: false)
            return try #require(libcryptoAllocationsOnThisThread()) - before
        }
        #expect(failures == 0)
        #expect(delta == 0, "\(pair.testDescription): \(delta) libcrypto allocations in the per-packet loop")
    }

    @Test(arguments: [IntegrityAlgorithm.hmacSHA1_96, .hmacSHA256_128, .hmacSHA384_192, .hmacSHA512_256])
    func integrityMACDoesNotAllocateInLibcrypto(_ algorithm: IntegrityAlgorithm) throws {
        let mac = try IntegrityMAC(algorithm: algorithm, key: [UInt8](repeating: 3, count: algorithm.keyLength))
        var data = [UInt8](repeating: 9, count: 1500)
        let delta = try data.withUnsafeMutableBytes { bytes -> Int64 in
            let before = try #require(libcryptoAllocationsOnThisThread())
            for _ in 0..<200 {
                mac.start()
                mac.update(bytes.baseAddress!, count: 1400)
                mac.finish(into: bytes.baseAddress! + 1400)
            }
            return try #require(libcryptoAllocationsOnThisThread()) - before
        }
        #expect(delta == 0)
    }
}
