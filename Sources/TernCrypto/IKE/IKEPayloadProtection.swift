import CTernLibcrypto
import Crypto

/// Encryption and integrity of the body of an Encrypted (SK, RFC 7296 §3.14) or Encrypted
/// Fragment (SKF, RFC 7383 §2.5) payload, for one direction of an IKE SA:
///
/// ```
///                      1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Next Payload  |C|  RESERVED   |         Payload Length        |  <- in `aad`
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                     Initialization Vector                     |  <- body starts here
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ~                    Encrypted IKE Payloads                     ~
/// +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |               |             Padding (0-255 octets)            |
/// +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
/// |                                               |  Pad Length   |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ~                    Integrity Checksum Data                    ~
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// - AES-CBC (RFC 3602 via RFC 7296 §3.14) with HMAC-SHA1-96 (RFC 2404) or HMAC-SHA2
///   (RFC 4868): the inner payloads ‖ padding ‖ pad length are encrypted, padded to the
///   16-byte block; ICV = HMAC(IKE header ‖ SK header ‖ IV ‖ ciphertext) truncated, i.e.
///   the whole message up to the ICV (§3.14).
/// - AES-GCM-16 (RFC 5282 §3, §5.1) and ChaCha20-Poly1305 (RFC 7634 §3): nonce = 4-byte salt
///   (the last 4 bytes of SK_e) ‖ 8-byte IV, AAD = IKE header ‖ SK header (‖ the 4 fragment
///   bytes of SKF), ICV = the 16-byte tag. The block size is 1, so no padding is added, just
///   the pad length byte (0), as strongSwan does.
///
/// Padding is zeros. On receipt the padding's contents are not checked (§3.14 lets the sender
/// choose them), only that the pad length fits inside the decrypted data.
///
/// IKE is not the hot path: this uses swift-crypto (AEAD, HMAC) and a one-shot libcrypto CBC
/// context per call, and returns fresh arrays.
public struct IKEPayloadProtection: Sendable {
    public let encryption: EncryptionAlgorithm
    public let integrity: IntegrityAlgorithm
    private let encryptionKey: [UInt8]
    private let integrityKey: [UInt8]

    /// AEAD transforms take no integrity algorithm; AES-CBC needs one; ENCR_NULL and AES-GMAC
    /// are refused (IKE requires confidentiality). Key lengths must match the transforms:
    /// `encryption.keyMaterialLength` (salt included) and `integrity.keyLength`.
    public init(encryption: EncryptionAlgorithm, integrity: IntegrityAlgorithm,
                encryptionKey: [UInt8], integrityKey: [UInt8]) throws(CryptoError) {
        guard encryption.isValidKeySize else {
            throw CryptoError("\(encryption): AES key size must be 128, 192 or 256 bits")
        }
        switch encryption {
        case .aesGCM16, .chacha20Poly1305:
            guard integrity == .none else {
                throw CryptoError("\(encryption) is a combined-mode transform and takes no integrity algorithm, got \(integrity)")
            }
        case .aesCBC:
            guard integrity != .none else {
                throw CryptoError("\(encryption) needs an integrity algorithm to protect IKE messages")
            }
        case .null, .aesGMAC:
            throw CryptoError("\(encryption) provides no confidentiality and cannot protect IKE messages")
        }
        guard encryptionKey.count == encryption.keyMaterialLength else {
            let salted = encryption.isCombinedMode ? " (key ‖ 4-byte salt)" : ""
            throw CryptoError("\(encryption): SK_e must be \(encryption.keyMaterialLength) bytes\(salted), got \(encryptionKey.count)")
        }
        guard integrityKey.count == integrity.keyLength else {
            throw CryptoError("\(integrity): SK_a must be \(integrity.keyLength) bytes, got \(integrityKey.count)")
        }
        self.encryption = encryption
        self.integrity = integrity
        self.encryptionKey = encryptionKey
        self.integrityKey = integrityKey
    }

    /// 16 for AES-CBC, 8 for AES-GCM and ChaCha20-Poly1305.
    public var ivLength: Int { encryption.ivLength }

    /// 16 for the AEADs, the truncated HMAC length for AES-CBC.
    public var icvLength: Int { encryption.isCombinedMode ? encryption.combinedICVLength : integrity.icvLength }

    /// Bytes of inner payloads ‖ padding ‖ pad length: a multiple of 16 for CBC.
    private func encryptedLength(plaintextLength: Int) -> Int {
        let unpadded = plaintextLength + 1
        guard case .aesCBC = encryption else { return unpadded }
        return (unpadded + 15) / 16 * 16
    }

    /// Length of the SK body (IV ‖ encrypted(inner ‖ padding ‖ pad length) ‖ ICV) for
    /// `plaintextLength` bytes of inner payloads, so the caller can fill in the header lengths
    /// that go into `aad` before sealing.
    public func bodyLength(plaintextLength: Int) -> Int {
        ivLength + encryptedLength(plaintextLength: plaintextLength) + icvLength
    }

    /// Encrypts and authenticates `plaintext` (the inner payloads). `aad` = the IKE header ‖
    /// the SK generic payload header (‖ the 4 fragment bytes for SKF), already carrying the
    /// final lengths; `iv` = `ivLength` bytes from the caller's RNG (a programming error
    /// otherwise). Returns the body: IV ‖ ciphertext ‖ ICV, `bodyLength(plaintextLength:)` bytes.
    public func seal(plaintext: [UInt8], aad: [UInt8], iv: [UInt8]) -> [UInt8] {
        precondition(iv.count == ivLength, "IV must be \(ivLength) bytes")
        let encryptedLength = encryptedLength(plaintextLength: plaintext.count)
        let padLength = encryptedLength - plaintext.count - 1
        var text = plaintext + [UInt8](repeating: 0, count: padLength) + [UInt8(padLength)]
        defer { Self.cleanse(&text) }
        switch encryption {
        case .aesGCM16, .chacha20Poly1305:
            let (ciphertext, tag) = aeadSeal(text, aad: aad, iv: iv)
            return iv + ciphertext + tag
        default:
            cbc(&text, iv: iv, encrypt: true)
            let icv = mac(aad + iv + text)
            return iv + text + icv
        }
    }

    /// Verifies (HMAC compared in constant time; the AEAD tag by libcrypto) and decrypts an
    /// SK body, then strips the padding. Throws on a short or misaligned body, a wrong ICV
    /// ("integrity check failed") or a pad length longer than the data ("malformed padding").
    public func open(body: ArraySlice<UInt8>, aad: [UInt8]) throws(CryptoError) -> [UInt8] {
        let icvLength = icvLength
        let minimumEncrypted = encryption.blockSize == 16 ? 16 : 1
        guard body.count >= ivLength + minimumEncrypted + icvLength else {
            throw CryptoError("SK payload body too short: \(body.count) bytes")
        }
        let ivEnd = body.startIndex + ivLength
        let icvStart = body.endIndex - icvLength
        let iv = Array(body[body.startIndex..<ivEnd])
        var text = Array(body[ivEnd..<icvStart])
        let icv = Array(body[icvStart...])

        switch encryption {
        case .aesGCM16, .chacha20Poly1305:
            guard let opened = aeadOpen(text, tag: icv, aad: aad, iv: iv) else {
                throw CryptoError("integrity check failed")
            }
            text = opened
        default:
            guard text.count % 16 == 0 else {
                throw CryptoError("SK payload ciphertext is \(text.count) bytes, not a multiple of the 16-byte block")
            }
            let expected = mac(aad + iv + text)
            let equal = expected.withUnsafeBytes { a in icv.withUnsafeBytes { b in
                tern_constant_time_equal(a.baseAddress, b.baseAddress, icvLength)
            } }
            guard equal == 1 else { throw CryptoError("integrity check failed") }
            cbc(&text, iv: iv, encrypt: false)
        }
        defer { Self.cleanse(&text) }
        // text is non-empty: at least 1 byte (AEAD) or one 16-byte block (CBC).
        let padLength = Int(text[text.count - 1])
        guard padLength + 1 <= text.count else {
            throw CryptoError("malformed padding: pad length \(padLength) exceeds the \(text.count - 1) bytes before it")
        }
        return Array(text[0..<(text.count - 1 - padLength)])
    }

    // MARK: - Primitives

    /// Splits SK_e into the cipher key and the 4-byte salt of the combined modes.
    private var aeadKeyAndSalt: (key: SymmetricKey, salt: [UInt8]) {
        let keyLength = encryptionKey.count - 4
        return (SymmetricKey(data: encryptionKey[0..<keyLength]), Array(encryptionKey[keyLength...]))
    }

    private func aeadSeal(_ text: [UInt8], aad: [UInt8], iv: [UInt8]) -> (ciphertext: [UInt8], tag: [UInt8]) {
        let (key, salt) = aeadKeyAndSalt
        do {
            if case .chacha20Poly1305 = encryption {
                let box = try ChaChaPoly.seal(text, using: key, nonce: ChaChaPoly.Nonce(data: salt + iv), authenticating: aad)
                return (Array(box.ciphertext), Array(box.tag))
            }
            let box = try AES.GCM.seal(text, using: key, nonce: AES.GCM.Nonce(data: salt + iv), authenticating: aad)
            return (Array(box.ciphertext), Array(box.tag))
        } catch {
            // Key and nonce lengths were validated in init and by the IV precondition.
            preconditionFailure("AEAD seal failed with validated parameters: \(error)")
        }
    }

    private func aeadOpen(_ ciphertext: [UInt8], tag: [UInt8], aad: [UInt8], iv: [UInt8]) -> [UInt8]? {
        let (key, salt) = aeadKeyAndSalt
        if case .chacha20Poly1305 = encryption {
            guard let nonce = try? ChaChaPoly.Nonce(data: salt + iv),
                  let box = try? ChaChaPoly.SealedBox(nonce: nonce, ciphertext: ciphertext, tag: tag) else { return nil }
            return (try? ChaChaPoly.open(box, using: key, authenticating: aad)).map { Array($0) }
        }
        guard let nonce = try? AES.GCM.Nonce(data: salt + iv),
              let box = try? AES.GCM.SealedBox(nonce: nonce, ciphertext: ciphertext, tag: tag) else { return nil }
        return (try? AES.GCM.open(box, using: key, authenticating: aad)).map { Array($0) }
    }

    /// AES-CBC in place over whole blocks (the caller pads or has checked the length).
    private func cbc(_ text: inout [UInt8], iv: [UInt8], encrypt: Bool) {
        guard let context = encryptionKey.withUnsafeBufferPointer({ tern_cbc_new($0.baseAddress, $0.count) }) else {
            preconditionFailure("libcrypto could not build an AES-CBC context for a validated key")
        }
        defer { tern_cbc_free(context) }
        let ok = text.withUnsafeMutableBufferPointer { buffer in
            iv.withUnsafeBufferPointer { ivBytes in
                encrypt ? tern_cbc_encrypt(context, ivBytes.baseAddress, buffer.baseAddress, buffer.count)
                        : tern_cbc_decrypt(context, ivBytes.baseAddress, buffer.baseAddress, buffer.count)
            }
        }
        precondition(ok == 1, "AES-CBC failed on block-aligned input")
    }

    /// HMAC over `data` truncated to the ICV length (RFC 2404 §2, RFC 4868 §2.1.1).
    private func mac(_ data: [UInt8]) -> [UInt8] {
        let key = SymmetricKey(data: integrityKey)
        let full: [UInt8]
        switch integrity {
        case .hmacSHA1_96: full = Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: key))
        case .hmacSHA256_128: full = Array(HMAC<SHA256>.authenticationCode(for: data, using: key))
        case .hmacSHA384_192: full = Array(HMAC<SHA384>.authenticationCode(for: data, using: key))
        case .hmacSHA512_256: full = Array(HMAC<SHA512>.authenticationCode(for: data, using: key))
        case .none: preconditionFailure("CBC without integrity is refused in init")
        }
        return Array(full.prefix(integrity.icvLength))
    }

    private static func cleanse(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { tern_cleanse($0.baseAddress, $0.count) }
    }
}
