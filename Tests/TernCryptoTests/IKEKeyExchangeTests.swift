import Testing
@testable import TernCrypto

/// KE payload values and g^ir: published answers, two parties agreeing, and hostile peer values.
@Suite struct IKEKeyExchangeTests {
    static let vectors = loadVectors("ike-key-exchange-rfc5903-rfc7748.txt")

    static func group(_ vector: VectorRecord) -> KeyExchangeGroup {
        guard let id = UInt16(vector.string("group")), let group = KeyExchangeGroup(rawValue: id) else {
            fatalError("\(vector.name): bad group")
        }
        return group
    }

    @Test func vectorFileIsThere() {
        #expect(Self.vectors.map(Self.group) == [.ecp256, .ecp384, .ecp521, .curve25519, .curve25519])
    }

    /// RFC 5903 §8 and RFC 7748 §6.1 / RFC 8031: each private key gives the published public
    /// value, and each side computes the published g^ir from the other's value.
    @Test(arguments: vectors)
    func publishedKeyExchange(_ vector: VectorRecord) throws {
        let group = Self.group(vector)
        let initiator = try KeyExchange(group: group, privateKey: vector.hex("i"))
        let responder = try KeyExchange(group: group, privateKey: vector.hex("r"))
        #expect(hexString(initiator.publicValue) == vector.string("gi"))
        #expect(hexString(responder.publicValue) == vector.string("gr"))
        #expect(hexString(try initiator.sharedSecret(peerPublicValue: vector.hex("gr"))) == vector.string("shared"))
        #expect(hexString(try responder.sharedSecret(peerPublicValue: vector.hex("gi"))) == vector.string("shared"))
    }

    /// Fresh key pairs from the caller's RNG agree, with the documented lengths; the same seed
    /// gives the same key (randomness only comes from the caller).
    @Test(arguments: KeyExchangeGroup.allCases)
    func twoPartiesAgree(_ group: KeyExchangeGroup) throws {
        var rng = SeededRandom(seed: 0x1CE + UInt64(group.rawValue))
        let initiator = try KeyExchange(group: group, rng: &rng)
        let responder = try KeyExchange(group: group, rng: &rng)
        #expect(initiator.group == group)
        #expect(initiator.publicValue.count == group.publicValueLength)
        #expect(initiator.publicValue != responder.publicValue)
        let shared = try initiator.sharedSecret(peerPublicValue: responder.publicValue)
        #expect(shared.count == group.sharedSecretLength)
        #expect(shared == (try responder.sharedSecret(peerPublicValue: initiator.publicValue)))

        var again = SeededRandom(seed: 0x1CE + UInt64(group.rawValue))
        #expect(try KeyExchange(group: group, rng: &again).publicValue == initiator.publicValue)
    }

    @Test func groupTable() {
        #expect(KeyExchangeGroup.allCases.map(\.rawValue) == [14, 15, 16, 19, 20, 21, 31])
        #expect(KeyExchangeGroup.allCases.map(\.publicValueLength) == [256, 384, 512, 64, 96, 132, 32])
        #expect(KeyExchangeGroup.allCases.map(\.strongSwanName)
            == ["MODP_2048", "MODP_3072", "MODP_4096", "ECP_256", "ECP_384", "ECP_521", "CURVE_25519"])
    }

    // MARK: MODP

    /// The primes are RFC 3526's: 64 one bits at each end and the digits of pi after them.
    @Test(arguments: [KeyExchangeGroup.modp2048, .modp3072, .modp4096])
    func modpPrimeIsRFC3526(_ group: KeyExchangeGroup) throws {
        let prime = try #require(KeyExchange.modpPrime(group))
        #expect(prime.count == group.publicValueLength)
        #expect(prime.prefix(8).allSatisfy { $0 == 0xFF } && prime.suffix(8).allSatisfy { $0 == 0xFF })
        #expect(hexString(prime[8..<24]) == "c90fdaa22168c234c4c6628b80dc1cd1")
    }

    /// Small exponents give known powers of g = 2, so the big-number plumbing (byte order,
    /// padding to the prime length) is checked exactly: g^1 = 2, and 4^3 = 64.
    @Test func modpSmallExponentsGiveKnownPowers() throws {
        let one = try KeyExchange(group: .modp2048, privateKey: [1])
        #expect(one.publicValue == [UInt8](repeating: 0, count: 255) + [2])
        let three = try KeyExchange(group: .modp2048, privateKey: [3])
        #expect(three.publicValue == [UInt8](repeating: 0, count: 255) + [8])
        let four = [UInt8](repeating: 0, count: 255) + [4]
        #expect(try three.sharedSecret(peerPublicValue: four) == [UInt8](repeating: 0, count: 255) + [64])
        #expect(throws: CryptoError.self) { try KeyExchange(group: .modp2048, privateKey: [0, 0]) }
    }

    /// 0, 1, p-1 (order 1 and 2), p, above p, p-2 (order 2q: outside the prime-order
    /// subgroup) and wrong lengths are all refused.
    @Test(arguments: [KeyExchangeGroup.modp2048, .modp3072, .modp4096])
    func modpRejectsInvalidPeerValues(_ group: KeyExchangeGroup) throws {
        let prime = try #require(KeyExchange.modpPrime(group))
        var rng = SeededRandom(seed: 5)
        let party = try KeyExchange(group: group, rng: &rng)
        let length = group.publicValueLength
        func minus(_ k: UInt8) -> [UInt8] { var value = prime; value[length - 1] -= k; return value }  // p ends in 0xFF
        let zero = [UInt8](repeating: 0, count: length)
        let one = Array(zero.dropLast()) + [1]
        let invalid: [(String, [UInt8])] = [
            ("0", zero), ("1", one), ("p-1", minus(1)), ("p-2", minus(2)), ("p", prime),
            ("2^n-1", [UInt8](repeating: 0xFF, count: length)),
            ("short", Array(party.publicValue.dropFirst())), ("long", [0] + party.publicValue), ("empty", []),
        ]
        for (name, value) in invalid {
            #expect(throws: CryptoError.self, "\(group.strongSwanName): \(name)") {
                try party.sharedSecret(peerPublicValue: value)
            }
        }
        // Control: g = 2 itself lies in the subgroup and is accepted.
        #expect(throws: Never.self) { try party.sharedSecret(peerPublicValue: Array(zero.dropLast()) + [2]) }
    }

    /// Every g^x is a square mod p (in the order-q subgroup) and, since p ≡ 3 mod 4 makes -1 a
    /// non-square, every p - g^x is not: the subgroup check must accept the first and refuse
    /// the second, whatever x is.
    @Test(arguments: [KeyExchangeGroup.modp2048, .modp3072, .modp4096])
    func modpSubgroupCheckSeparatesSquaresFromNonSquares(_ group: KeyExchangeGroup) throws {
        let prime = try #require(KeyExchange.modpPrime(group))
        var rng = SeededRandom(seed: 9)
        let party = try KeyExchange(group: group, rng: &rng)
        for _ in 0..<2 {
            let square = try KeyExchange(group: group, rng: &rng).publicValue
            #expect(throws: Never.self) { try party.sharedSecret(peerPublicValue: square) }
            #expect(throws: CryptoError.self) { try party.sharedSecret(peerPublicValue: Self.subtract(prime, square)) }
        }
    }

    /// a - b for big-endian numbers of equal length with a > b.
    static func subtract(_ a: [UInt8], _ b: [UInt8]) -> [UInt8] {
        var result = a, borrow = 0
        for index in stride(from: a.count - 1, through: 0, by: -1) {
            let difference = Int(a[index]) - Int(b[index]) - borrow
            result[index] = UInt8((difference + 256) % 256)
            borrow = difference < 0 ? 1 : 0
        }
        return result
    }

    // MARK: ECP and X25519

    @Test(arguments: [KeyExchangeGroup.ecp256, .ecp384, .ecp521])
    func ecpRejectsPointsOffTheCurve(_ group: KeyExchangeGroup) throws {
        var rng = SeededRandom(seed: 6)
        let party = try KeyExchange(group: group, rng: &rng)
        let peer = try KeyExchange(group: group, rng: &rng).publicValue
        var offCurve = peer
        offCurve[offCurve.count - 1] ^= 1  // y changed: x^3 + ax + b no longer equals y^2
        let zero = [UInt8](repeating: 0, count: group.publicValueLength)
        let tooBig = [UInt8](repeating: 0xFF, count: group.publicValueLength)  // coordinates >= p
        for (name, value) in [("off curve", offCurve), ("zero", zero), ("0xff", tooBig),
                              ("with 0x04 prefix", [4] + peer), ("short", Array(peer.dropLast()))] {
            #expect(throws: CryptoError.self, "\(group.strongSwanName): \(name)") {
                try party.sharedSecret(peerPublicValue: value)
            }
        }
        #expect(throws: Never.self) { try party.sharedSecret(peerPublicValue: peer) }
    }

    @Test(arguments: [KeyExchangeGroup.ecp256, .ecp384, .ecp521])
    func ecpRefusesInvalidFixedScalars(_ group: KeyExchangeGroup) {
        let length = group.sharedSecretLength
        for scalar in [[UInt8](repeating: 0, count: length), [UInt8](repeating: 0xFF, count: length), [1]] {
            #expect(throws: CryptoError.self) { try KeyExchange(group: group, privateKey: scalar) }
        }
    }

    /// u = 0 and u = 1 are small-order points: the result is all zeros, which RFC 7748 §6.1
    /// says to refuse.
    @Test func x25519RejectsSmallOrderPoints() throws {
        var rng = SeededRandom(seed: 7)
        let party = try KeyExchange(group: .curve25519, rng: &rng)
        let zero = [UInt8](repeating: 0, count: 32)
        var one = zero
        one[0] = 1  // little-endian u = 1
        for value in [zero, one] {
            #expect(throws: CryptoError.self) { try party.sharedSecret(peerPublicValue: value) }
        }
        #expect(throws: CryptoError.self) { try party.sharedSecret(peerPublicValue: [UInt8](repeating: 9, count: 31)) }
    }

    /// Error messages name the group and lengths, never key bytes.
    @Test func errorsCarryNoKeyBytes() throws {
        let party = try KeyExchange(group: .ecp256, privateKey: Self.vectors[0].hex("i"))
        do {
            _ = try party.sharedSecret(peerPublicValue: [1, 2, 3])
            Issue.record("a 3-byte value was accepted")
        } catch {
            #expect(error.message == "ECP_256: peer's key exchange data must be 64 bytes, got 3")
        }
    }
}
