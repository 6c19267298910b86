import Crypto
import Testing
@testable import TernCrypto

/// PRFAlgorithm against the published HMAC answers, and prf+ against its definition.
@Suite struct IKEPRFTests {
    static let hmacVectors = loadVectors("hmac-rfc2202-rfc4231.txt")

    static func prf(named name: String) -> PRFAlgorithm {
        switch name {
        case "hmac-sha1": .hmacSHA1
        case "hmac-sha256": .hmacSHA256
        case "hmac-sha384": .hmacSHA384
        case "hmac-sha512": .hmacSHA512
        default: fatalError("no PRF for \(name)")
        }
    }

    /// RFC 2202 (SHA-1) and RFC 4231 (SHA-2) cases 1–7, keys of every length.
    @Test(arguments: hmacVectors)
    func publishedHMAC(_ vector: VectorRecord) {
        let prf = Self.prf(named: vector.string("algorithm"))
        let output = prf.compute(key: vector.hex("key"), data: vector.hex("data"))
        #expect(output.count == prf.outputLength)
        let expected = vector.hex("mac")
        #expect(hexString(output.prefix(expected.count)) == hexString(expected))
    }

    @Test func everyPRFHasVectors() {
        let covered = Set(Self.hmacVectors.map { Self.prf(named: $0.string("algorithm")) })
        #expect(covered == Set(PRFAlgorithm.allCases))
    }

    /// prf+ (K,S) = T1 | T2 | T3 ... with T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
    @Test(arguments: PRFAlgorithm.allCases)
    func prfPlusFollowsTheDefinition(_ prf: PRFAlgorithm) {
        var rng = SeededRandom(seed: UInt64(prf.rawValue))
        let key = randomBytes(prf.outputLength, using: &rng)
        let seed = randomBytes(77, using: &rng)
        let length = 3 * prf.outputLength + 5
        let t1 = prf.compute(key: key, data: seed + [1])
        let t2 = prf.compute(key: key, data: t1 + seed + [2])
        let t3 = prf.compute(key: key, data: t2 + seed + [3])
        let t4 = prf.compute(key: key, data: t3 + seed + [4])
        let output = prf.plus(key: key, seed: seed, length: length)
        #expect(output == Array((t1 + t2 + t3 + t4).prefix(length)))
        // Shorter outputs are prefixes of longer ones; 0 bytes is empty.
        #expect(prf.plus(key: key, seed: seed, length: 7) == Array(output.prefix(7)))
        #expect(prf.plus(key: key, seed: seed, length: 0).isEmpty)
    }

    /// The last of the 255 blocks the one-octet counter allows (counter 0xff, no wrap to 0).
    @Test func prfPlusReachesBlock255() {
        let prf = PRFAlgorithm.hmacSHA1
        let key: [UInt8] = [1, 2, 3]
        let seed: [UInt8] = [9]
        let output = prf.plus(key: key, seed: seed, length: 255 * prf.outputLength)
        #expect(output.count == 255 * 20)
        let t254 = Array(output[(253 * 20)..<(254 * 20)])
        #expect(Array(output.suffix(20)) == prf.compute(key: key, data: t254 + seed + [255]))
    }

    /// swift-crypto is the implementation; check the mapping against its HMAC directly.
    @Test func computeIsHMACOfTheNamedHash() {
        let key: [UInt8] = Array(0..<40), data: [UInt8] = Array(100..<180)
        let symmetric = SymmetricKey(data: key)
        #expect(PRFAlgorithm.hmacSHA1.compute(key: key, data: data) == Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: symmetric)))
        #expect(PRFAlgorithm.hmacSHA256.compute(key: key, data: data) == Array(HMAC<SHA256>.authenticationCode(for: data, using: symmetric)))
        #expect(PRFAlgorithm.hmacSHA384.compute(key: key, data: data) == Array(HMAC<SHA384>.authenticationCode(for: data, using: symmetric)))
        #expect(PRFAlgorithm.hmacSHA512.compute(key: key, data: data) == Array(HMAC<SHA512>.authenticationCode(for: data, using: symmetric)))
    }

    @Test func wireIDsAndNames() {
        #expect(PRFAlgorithm.allCases.map(\.rawValue) == [2, 5, 6, 7])
        #expect(PRFAlgorithm.allCases.map(\.outputLength) == [20, 32, 48, 64])
        #expect(PRFAlgorithm.allCases.map(\.strongSwanName) == ["PRF_HMAC_SHA1", "PRF_HMAC_SHA2_256", "PRF_HMAC_SHA2_384", "PRF_HMAC_SHA2_512"])
    }
}
