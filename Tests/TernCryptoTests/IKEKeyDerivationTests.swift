import Crypto
import Testing
@testable import TernCrypto

/// SKEYSEED, the seven IKE SA keys and KEYMAT, checked against RFC 7296 §2.14, §2.17 and
/// §2.18 spelled out here with swift-crypto's HMAC directly.
@Suite struct IKEKeyDerivationTests {
    /// Transform pairs an IKE SA can use: AES-CBC with each HMAC, and the AEADs alone.
    static let ikePairs: [(EncryptionAlgorithm, IntegrityAlgorithm)] = allTransformPairs.filter { pair in
        switch pair.0 {
        case .aesCBC, .aesGCM16, .chacha20Poly1305: true
        default: false
        }
    }

    static let cases: [(PRFAlgorithm, EncryptionAlgorithm, IntegrityAlgorithm)] =
        PRFAlgorithm.allCases.flatMap { prf in ikePairs.map { (prf, $0.0, $0.1) } }

    let ni: [UInt8] = Array(repeating: 0xA1, count: 32)
    let nr: [UInt8] = Array(repeating: 0xB2, count: 24)
    let gir: [UInt8] = Array(0..<64)

    /// HMAC with the PRF's hash, independent of PRFAlgorithm.compute.
    static func hmac(_ prf: PRFAlgorithm, key: [UInt8], data: [UInt8]) -> [UInt8] {
        let key = SymmetricKey(data: key)
        switch prf {
        case .hmacSHA1: return Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: key))
        case .hmacSHA256: return Array(HMAC<SHA256>.authenticationCode(for: data, using: key))
        case .hmacSHA384: return Array(HMAC<SHA384>.authenticationCode(for: data, using: key))
        case .hmacSHA512: return Array(HMAC<SHA512>.authenticationCode(for: data, using: key))
        }
    }

    /// prf+ spelled out with the independent HMAC.
    static func prfPlus(_ prf: PRFAlgorithm, key: [UInt8], seed: [UInt8], length: Int) -> [UInt8] {
        var output: [UInt8] = [], block: [UInt8] = [], counter: UInt8 = 1
        while output.count < length {
            block = hmac(prf, key: key, data: block + seed + [counter])
            output += block
            counter += 1
        }
        return Array(output.prefix(length))
    }

    @Test(arguments: PRFAlgorithm.allCases)
    func skeyseedIsPRFOfTheNoncesOverGir(_ prf: PRFAlgorithm) {
        let skeyseed = IKEKeyDerivation.skeyseed(prf: prf, nonceInitiator: ni, nonceResponder: nr, sharedSecret: gir)
        #expect(skeyseed == Self.hmac(prf, key: ni + nr, data: gir))
        #expect(skeyseed.count == prf.outputLength)
    }

    @Test(arguments: PRFAlgorithm.allCases)
    func rekeyedSkeyseedIsKeyedWithTheOldSKd(_ prf: PRFAlgorithm) {
        let oldSKd = [UInt8](repeating: 0x5D, count: prf.outputLength)
        let skeyseed = IKEKeyDerivation.rekeyedSkeyseed(prf: prf, oldSKd: oldSKd, sharedSecret: gir,
                                                        nonceInitiator: ni, nonceResponder: nr)
        #expect(skeyseed == Self.hmac(prf, key: oldSKd, data: gir + ni + nr))
    }

    /// Every key has its RFC length and they are consecutive slices of
    /// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), SPIs big-endian.
    @Test(arguments: cases)
    func ikeSAKeysAreSlicesOfPRFPlus(_ prf: PRFAlgorithm, _ encryption: EncryptionAlgorithm, _ integrity: IntegrityAlgorithm) {
        let skeyseed = IKEKeyDerivation.skeyseed(prf: prf, nonceInitiator: ni, nonceResponder: nr, sharedSecret: gir)
        let spiI: UInt64 = 0x0102_0304_0506_0708, spiR: UInt64 = 0xF1F2_F3F4_F5F6_F7F8
        let keys = IKEKeyDerivation.ikeSAKeys(prf: prf, skeyseed: skeyseed, nonceInitiator: ni, nonceResponder: nr,
                                              initiatorSPI: spiI, responderSPI: spiR,
                                              encryption: encryption, integrity: integrity)
        #expect(keys.skD.count == prf.outputLength && keys.skPi.count == prf.outputLength && keys.skPr.count == prf.outputLength)
        #expect(keys.skAi.count == integrity.keyLength && keys.skAr.count == integrity.keyLength)
        #expect(keys.skEi.count == encryption.keyMaterialLength && keys.skEr.count == encryption.keyMaterialLength)
        if encryption.isCombinedMode { #expect(keys.skAi.isEmpty) }

        let seed = ni + nr + [1, 2, 3, 4, 5, 6, 7, 8, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8]
        let all = keys.skD + keys.skAi + keys.skAr + keys.skEi + keys.skEr + keys.skPi + keys.skPr
        #expect(all == Self.prfPlus(prf, key: skeyseed, seed: seed, length: all.count))
        // The keys really differ (no slice taken twice).
        #expect(Set([keys.skD, keys.skPi, keys.skPr]).count == 3)
        #expect(keys.skEi != keys.skEr)
    }

    @Test func ikeSAKeyLengthsForAES256GCMWithSHA256() {
        let keys = IKEKeyDerivation.ikeSAKeys(prf: .hmacSHA256, skeyseed: [1], nonceInitiator: ni, nonceResponder: nr,
                                              initiatorSPI: 1, responderSPI: 2, encryption: .aesGCM16(keyBits: 256), integrity: .none)
        #expect([keys.skD, keys.skAi, keys.skAr, keys.skEi, keys.skEr, keys.skPi, keys.skPr].map(\.count) == [32, 0, 0, 36, 36, 32, 32])
        let cbc = IKEKeyDerivation.ikeSAKeys(prf: .hmacSHA384, skeyseed: [1], nonceInitiator: ni, nonceResponder: nr,
                                             initiatorSPI: 1, responderSPI: 2, encryption: .aesCBC(keyBits: 128), integrity: .hmacSHA1_96)
        #expect([cbc.skD, cbc.skAi, cbc.skAr, cbc.skEi, cbc.skEr, cbc.skPi, cbc.skPr].map(\.count) == [48, 20, 20, 16, 16, 48, 48])
    }

    @Test(arguments: PRFAlgorithm.allCases)
    func childKeyMaterialWithAndWithoutPFS(_ prf: PRFAlgorithm) {
        let skD = [UInt8](repeating: 0xD0, count: prf.outputLength)
        let plain = IKEKeyDerivation.childKeyMaterial(prf: prf, skD: skD, sharedSecret: nil,
                                                      nonceInitiator: ni, nonceResponder: nr, length: 2 * (36 + 0))
        #expect(plain == Self.prfPlus(prf, key: skD, seed: ni + nr, length: 72))
        let pfs = IKEKeyDerivation.childKeyMaterial(prf: prf, skD: skD, sharedSecret: gir,
                                                    nonceInitiator: ni, nonceResponder: nr, length: 2 * (32 + 32))
        #expect(pfs == Self.prfPlus(prf, key: skD, seed: gir + ni + nr, length: 128))
        #expect(pfs.prefix(72) != plain[...])
    }

    @Test func descriptionShowsLengthsNotKeys() {
        let keys = IKESAKeys(skD: [0xAB, 0xCD], skAi: [], skAr: [], skEi: [0xEF], skEr: [0x12], skPi: [0x34], skPr: [0x56])
        let text = "\(keys)"
        #expect(text == "IKESAKeys(SK_d 2 B, SK_a 0/0 B, SK_e 1/1 B, SK_p 1/1 B)")
        for secret in ["ab", "cd", "ef", "171", "205"] { #expect(!text.lowercased().contains(secret)) }
    }
}
