/// The seven secrets of an IKE SA (RFC 7296 §2.14). `description` names the lengths only,
/// never key bytes, so an `IKESAKeys` can be logged or interpolated safely.
public struct IKESAKeys: Sendable, CustomStringConvertible {
    /// Keys CHILD SA key material and the next IKE SA's SKEYSEED.
    public var skD: [UInt8]
    /// Integrity keys for SK payloads, initiator → responder and back (empty for AEAD).
    public var skAi: [UInt8]
    public var skAr: [UInt8]
    /// Encryption keys for SK payloads (with the 4-byte salt at the end for AEAD).
    public var skEi: [UInt8]
    public var skEr: [UInt8]
    /// Keys the AUTH payload's prf(SK_px, IDx') (§2.15).
    public var skPi: [UInt8]
    public var skPr: [UInt8]

    public init(skD: [UInt8], skAi: [UInt8], skAr: [UInt8], skEi: [UInt8], skEr: [UInt8], skPi: [UInt8], skPr: [UInt8]) {
        self.skD = skD
        self.skAi = skAi
        self.skAr = skAr
        self.skEi = skEi
        self.skEr = skEr
        self.skPi = skPi
        self.skPr = skPr
    }

    public var description: String {
        "IKESAKeys(SK_d \(skD.count) B, SK_a \(skAi.count)/\(skAr.count) B, SK_e \(skEi.count)/\(skEr.count) B, SK_p \(skPi.count)/\(skPr.count) B)"
    }
}

/// IKEv2 key derivation (RFC 7296 §2.13–§2.18). Pure functions of their inputs.
public enum IKEKeyDerivation {
    /// SKEYSEED = prf(Ni | Nr, g^ir)   (RFC 7296 §2.14)
    ///
    /// The nonces are the key. HMAC takes any key length, so there is no special case for the
    /// fixed-key-length PRFs §2.14 mentions (we have none).
    public static func skeyseed(prf: PRFAlgorithm, nonceInitiator: [UInt8], nonceResponder: [UInt8],
                                sharedSecret: [UInt8]) -> [UInt8] {
        prf.compute(key: nonceInitiator + nonceResponder, data: sharedSecret)
    }

    /// Rekeyed IKE SA: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)   (§2.18), where `prf`
    /// is the PRF of the old IKE SA and the nonces are those of the CREATE_CHILD_SA exchange.
    public static func rekeyedSkeyseed(prf: PRFAlgorithm, oldSKd: [UInt8], sharedSecret: [UInt8],
                                       nonceInitiator: [UInt8], nonceResponder: [UInt8]) -> [UInt8] {
        prf.compute(key: oldSKd, data: sharedSecret + nonceInitiator + nonceResponder)
    }

    /// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
    /// (§2.14). SK_d, SK_pi and SK_pr are the PRF's output length; SK_a* the integrity key
    /// length (0 for AEAD); SK_e* the encryption key material, which for AES-GCM and
    /// ChaCha20-Poly1305 includes the 4-byte salt (RFC 5282 §7.1, RFC 7634 §3). The SPIs go in
    /// as 8 big-endian bytes, as on the wire.
    public static func ikeSAKeys(prf: PRFAlgorithm, skeyseed: [UInt8], nonceInitiator: [UInt8], nonceResponder: [UInt8],
                                 initiatorSPI: UInt64, responderSPI: UInt64,
                                 encryption: EncryptionAlgorithm, integrity: IntegrityAlgorithm) -> IKESAKeys {
        let prfLength = prf.outputLength
        let integrityLength = integrity.keyLength
        let encryptionLength = encryption.keyMaterialLength
        let seed = nonceInitiator + nonceResponder + bigEndian(initiatorSPI) + bigEndian(responderSPI)
        let total = 3 * prfLength + 2 * integrityLength + 2 * encryptionLength
        let stream = prf.plus(key: skeyseed, seed: seed, length: total)
        var offset = 0
        func take(_ count: Int) -> [UInt8] {
            defer { offset += count }
            return Array(stream[offset..<(offset + count)])
        }
        return IKESAKeys(skD: take(prfLength), skAi: take(integrityLength), skAr: take(integrityLength),
                         skEi: take(encryptionLength), skEr: take(encryptionLength),
                         skPi: take(prfLength), skPr: take(prfLength))
    }

    /// KEYMAT = prf+(SK_d, Ni | Nr), or prf+(SK_d, g^ir (new) | Ni | Nr) with PFS   (§2.17).
    /// The caller splits KEYMAT: the initiator → responder SA's encryption then integrity key,
    /// then the responder → initiator SA's.
    public static func childKeyMaterial(prf: PRFAlgorithm, skD: [UInt8], sharedSecret: [UInt8]?,
                                        nonceInitiator: [UInt8], nonceResponder: [UInt8], length: Int) -> [UInt8] {
        prf.plus(key: skD, seed: (sharedSecret ?? []) + nonceInitiator + nonceResponder, length: length)
    }

    private static func bigEndian(_ value: UInt64) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }
}
