import Crypto
import Foundation
import SwiftASN1
import _CryptoExtras

/// Encrypted PKCS#8 private keys ("ENCRYPTED PRIVATE KEY", RFC 5958 §3) with PBES2 (RFC 8018 §6.2): PBKDF2 with
/// HMAC-SHA-1/256/384/512 and AES-128/192/256-CBC, what `openssl pkcs8 -topk8` and `openssl genpkey -aes256` write.
///
///     EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm AlgorithmIdentifier, encryptedData OCTET STRING }
///     PBES2-params ::= SEQUENCE { keyDerivationFunc AlgorithmIdentifier {PBKDF2}, encryptionScheme AlgorithmIdentifier }
///     PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER, keyLength INTEGER OPTIONAL,
///                                  prf AlgorithmIdentifier DEFAULT hmacWithSHA1 }
enum EncryptedPrivateKey {
    static let pbes2: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 5, 13]
    static let pbkdf2: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 5, 12]
    static let prfs: [ASN1ObjectIdentifier: KDF.Insecure.PBKDF2.HashFunction] = [
        [1, 2, 840, 113549, 2, 7]: .insecureSHA1, [1, 2, 840, 113549, 2, 9]: .sha256,
        [1, 2, 840, 113549, 2, 10]: .sha384, [1, 2, 840, 113549, 2, 11]: .sha512,
    ]
    static let ciphers: [ASN1ObjectIdentifier: Int] = [
        [2, 16, 840, 1, 101, 3, 4, 1, 2]: 16, [2, 16, 840, 1, 101, 3, 4, 1, 22]: 24, [2, 16, 840, 1, 101, 3, 4, 1, 42]: 32,
    ]
    /// Far above OpenSSL's 2048 and a guard against a file that would keep us busy for hours.
    static let maxIterations = 10_000_000

    /// The PKCS#8 DER inside, decrypted with `passphrase`.
    static func decrypt(_ der: [UInt8], passphrase: String) throws(PKIError) -> [UInt8] {
        let fields = try parseDER(der, "EncryptedPrivateKeyInfo").sequenceChildren("EncryptedPrivateKeyInfo")
        guard fields.count == 2 else { throw PKIError(.malformedDER, "EncryptedPrivateKeyInfo: expected 2 fields") }
        let algorithm = try fields[0].sequenceChildren("encryptionAlgorithm")
        guard algorithm.count == 2, try algorithm[0].objectIdentifier("encryptionAlgorithm") == pbes2 else {
            throw PKIError(.encryptedKey, "encrypted private key: only PBES2 (openssl pkcs8 -v2) is supported")
        }
        let parameters = try algorithm[1].sequenceChildren("PBES2-params")
        guard parameters.count == 2 else { throw PKIError(.malformedDER, "PBES2-params: expected 2 fields") }
        let kdf = try parameters[0].sequenceChildren("keyDerivationFunc")
        guard kdf.count == 2, try kdf[0].objectIdentifier("keyDerivationFunc") == pbkdf2 else {
            throw PKIError(.encryptedKey, "encrypted private key: only PBKDF2 key derivation is supported")
        }
        let kdfParameters = try kdf[1].sequenceChildren("PBKDF2-params")
        guard kdfParameters.count >= 2 else { throw PKIError(.malformedDER, "PBKDF2-params: too few fields") }
        let salt = try kdfParameters[0].octetStringBytes("PBKDF2 salt")
        let iterations = try kdfParameters[1].smallInteger("PBKDF2 iterationCount")
        guard (1...maxIterations).contains(iterations) else { throw PKIError(.encryptedKey, "PBKDF2 iteration count \(iterations) out of range") }
        var prf = KDF.Insecure.PBKDF2.HashFunction.insecureSHA1
        var keyLength: Int?
        for field in kdfParameters.dropFirst(2) {
            if field.identifier == .integer {
                keyLength = try field.smallInteger("PBKDF2 keyLength")
            } else {
                let prfOID = try field.sequenceChildren("PBKDF2 prf").first?.objectIdentifier("PBKDF2 prf")
                guard let known = prfOID.flatMap({ prfs[$0] }) else {
                    throw PKIError(.encryptedKey, "encrypted private key: unsupported PBKDF2 PRF \(prfOID.map { "\($0)" } ?? "")")
                }
                prf = known
            }
        }
        let scheme = try parameters[1].sequenceChildren("encryptionScheme")
        guard scheme.count == 2, let cipherKeyLength = ciphers[try scheme[0].objectIdentifier("encryptionScheme")] else {
            throw PKIError(.encryptedKey, "encrypted private key: only AES-CBC encryption is supported")
        }
        guard keyLength == nil || keyLength == cipherKeyLength else {
            throw PKIError(.malformedDER, "PBKDF2 keyLength does not match the cipher")
        }
        let iv = try scheme[1].octetStringBytes("AES-CBC IV")
        let ciphertext = try fields[1].octetStringBytes("encryptedData")
        do {
            let key = try KDF.Insecure.PBKDF2.deriveKey(from: Array(passphrase.utf8), salt: salt, using: prf,
                                                        outputByteCount: cipherKeyLength, unsafeUncheckedRounds: iterations)
            return [UInt8](try AES._CBC.decrypt(ciphertext, using: key, iv: try AES._CBC.IV(ivBytes: iv)))
        } catch {
            throw PKIError(.encryptedKey, "decrypting the private key failed (wrong passphrase?)")
        }
    }
}

extension PrivateKeyBundle {
    /// Reads a private key like `load(_:)`, and also an encrypted PKCS#8 key ("ENCRYPTED PRIVATE KEY" PEM or DER)
    /// with `passphrase`. Legacy OpenSSL "Proc-Type: 4,ENCRYPTED" PEM keys are not supported.
    public static func load(_ bytes: [UInt8], passphrase: String?) throws(PKIError) -> PrivateKeyBundle {
        var encrypted: [UInt8]?
        if PEM.looksLikePEM(bytes) {
            encrypted = try PEM.decodeAll(String(decoding: bytes, as: UTF8.self)).first { $0.label == "ENCRYPTED PRIVATE KEY" }?.der
        } else if let root = try? parseDER(bytes, "key"), let fields = try? root.sequenceChildren("key"),
                  fields.count == 2, fields[0].identifier == .sequence, fields[1].identifier == .octetString {
            encrypted = bytes
        }
        guard let encrypted else { return try load(bytes) }
        guard let passphrase else {
            throw PKIError(.encryptedKey, "the private key is encrypted; a passphrase is needed (TERN_PKI_PASSPHRASE)")
        }
        let decrypted = try EncryptedPrivateKey.decrypt(encrypted, passphrase: passphrase)
        do { return try loadPKCS8(decrypted) } catch {
            throw PKIError(.encryptedKey, "decrypting the private key failed (wrong passphrase?)")
        }
    }
}
