import Foundation
import Testing
@testable import TernPKI

/// One key of each kind, made once: RSA generation takes a while.
enum TestKeys {
    static let rsa2048 = try! PrivateKeyBundle.generate(.rsa(bits: 2048))
    static let p256 = try! PrivateKeyBundle.generate(.ecdsa(bits: 256))
    static let p384 = try! PrivateKeyBundle.generate(.ecdsa(bits: 384))
    static let p521 = try! PrivateKeyBundle.generate(.ecdsa(bits: 521))
    static let ed25519 = try! PrivateKeyBundle.generate(.ed25519)
    static var all: [PrivateKeyBundle] { [rsa2048, p256, p384, p521, ed25519] }
}

func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

@Suite struct KeyTests {
    @Test func generatedKeysHaveTheAskedTypes() throws {
        #expect(TestKeys.rsa2048.keyType == .rsa(bits: 2048))
        #expect(TestKeys.p256.keyType == .ecdsa(bits: 256))
        #expect(TestKeys.p384.keyType == .ecdsa(bits: 384))
        #expect(TestKeys.p521.keyType == .ecdsa(bits: 521))
        #expect(TestKeys.ed25519.keyType == .ed25519)
    }

    @Test func pemAndDERRoundTripKeepsTheKey() throws {
        for key in TestKeys.all {
            let fromPEM = try PrivateKeyBundle.load(Array(key.pemEncoded.utf8))
            let fromDER = try PrivateKeyBundle.load(key.derEncoded)
            let fromPKCS8 = try PrivateKeyBundle.load(key.pkcs8DEREncoded)
            for loaded in [fromPEM, fromDER, fromPKCS8] {
                #expect(loaded.publicKey == key.publicKey, "\(key.keyType)")
            }
            let pub = key.publicKey
            #expect(try PublicKeyBundle.load(Array(pub.pemEncoded.utf8)) == pub)
            #expect(try PublicKeyBundle.load(pub.derEncoded) == pub)
            #expect(try PublicKeyBundle.load(key.derEncoded) == pub)  // a private key yields its public half
        }
    }

    @Test func pemLabelsAreThoseStrongSwanWrites() {
        #expect(TestKeys.rsa2048.pemEncoded.hasPrefix("-----BEGIN RSA PRIVATE KEY-----\n"))
        #expect(TestKeys.p256.pemEncoded.hasPrefix("-----BEGIN EC PRIVATE KEY-----\n"))
        #expect(TestKeys.ed25519.pemEncoded.hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
        #expect(TestKeys.p256.publicKey.pemEncoded.hasPrefix("-----BEGIN PUBLIC KEY-----\n"))
        // PEM lines are 64 characters.
        #expect(TestKeys.rsa2048.pemEncoded.split(separator: "\n").dropFirst().dropLast().dropLast().allSatisfy { $0.count == 64 })
    }

    @Test func keyIdentifiersAreSHA1OfTheRightBytes() throws {
        // RFC 8410 §10.1's example Ed25519 public key; SHA-1 values from `openssl dgst -sha1` over
        // the SPKI and over its last 32 bytes (what `pki --keyid` prints as keyid and subjkey).
        let spki = hex("302a300506032b657003210019bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1")
        let key = try PublicKeyBundle(subjectPublicKeyInfo: spki)
        #expect(key.subjectPublicKeyInfo == spki)
        #expect(key.subjectPublicKey == Array(spki.suffix(32)))
        #expect(key.keyID.count == 20 && key.subjectKeyID.count == 20 && key.keyID != key.subjectKeyID)
        #expect(colonHex(key.keyID) == "3a:04:96:77:61:a5:52:db:7e:9e:18:c6:db:a4:bd:4a:ae:11:99:08")
        #expect(colonHex(key.subjectKeyID) == "a2:8c:c1:f8:6e:59:60:d3:e0:3a:e7:5c:96:2c:97:a8:d4:48:29:3c")
    }

    @Test func badInputIsAnErrorNotACrash() {
        let inputs: [[UInt8]] = [[], [0x30], [0x30, 0x82, 0xFF, 0xFF], Array("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n".utf8),
                                 Array("-----BEGIN EC PRIVATE KEY-----\n!!\n-----END EC PRIVATE KEY-----\n".utf8),
                                 hex("3003020100"), hex("300602010104010a")]
        for input in inputs {
            #expect(throws: PKIError.self) { _ = try PrivateKeyBundle.load(input) }
            #expect(throws: PKIError.self) { _ = try PublicKeyBundle.load(input) }
        }
        #expect(throws: PKIError(.encryptedKey, "")) {
            _ = try PrivateKeyBundle.load(Array("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n".utf8))
        }
        #expect(throws: PKIError(.unsupportedKeySize, "")) { _ = try PrivateKeyBundle.generate(.rsa(bits: 1024)) }
        #expect(throws: PKIError(.unsupportedKeySize, "")) { _ = try PrivateKeyBundle.generate(.ecdsa(bits: 224)) }
    }
}

@Suite struct SignatureTests {
    static let message = Array("IKE_AUTH signed octets".utf8)

    static func schemes(for key: PrivateKeyBundle) -> [SignatureScheme] {
        switch key.keyType {
        case .rsa: SignatureScheme.SHA.allCases.flatMap { [.rsaPKCS1($0), .rsaPSS($0)] }
        case .ecdsa: SignatureScheme.SHA.allCases.map { .ecdsa($0) }
        case .ed25519: [.ed25519]
        }
    }

    @Test func everySchemeSignsAndVerifies() throws {
        for key in TestKeys.all {
            for scheme in Self.schemes(for: key) {
                let signature = try key.sign(Self.message, scheme: scheme)
                #expect(key.publicKey.verify(signature, over: Self.message, scheme: scheme), "\(key.keyType) \(scheme)")
                var tampered = Self.message
                tampered[0] ^= 1
                #expect(!key.publicKey.verify(signature, over: tampered, scheme: scheme), "\(key.keyType) \(scheme)")
                var badSignature = signature
                badSignature[badSignature.count / 2] ^= 0x40
                #expect(!key.publicKey.verify(badSignature, over: Self.message, scheme: scheme), "\(key.keyType) \(scheme)")
            }
        }
    }

    @Test func aSignatureDoesNotVerifyUnderAnotherSchemeOrKey() throws {
        let pkcs1 = try TestKeys.rsa2048.sign(Self.message, scheme: .rsaPKCS1(.sha256))
        #expect(!TestKeys.rsa2048.publicKey.verify(pkcs1, over: Self.message, scheme: .rsaPSS(.sha256)))
        #expect(!TestKeys.rsa2048.publicKey.verify(pkcs1, over: Self.message, scheme: .rsaPKCS1(.sha384)))
        let ecdsa = try TestKeys.p256.sign(Self.message, scheme: .ecdsa(.sha256))
        #expect(!TestKeys.p384.publicKey.verify(ecdsa, over: Self.message, scheme: .ecdsa(.sha256)))
        #expect(!TestKeys.ed25519.publicKey.verify(ecdsa, over: Self.message, scheme: .ed25519))
        #expect(throws: PKIError(.schemeMismatch, "")) { _ = try TestKeys.p256.sign(Self.message, scheme: .rsaPKCS1(.sha256)) }
        #expect(throws: PKIError(.schemeMismatch, "")) { _ = try TestKeys.ed25519.sign(Self.message, scheme: .ecdsa(.sha256)) }
        // Garbage of every length is simply "not valid".
        for length in [0, 1, 64, 70, 256, 300] {
            let junk = [UInt8](repeating: 0x30, count: length)
            #expect(!TestKeys.p256.publicKey.verify(junk, over: Self.message, scheme: .ecdsa(.sha256)))
            #expect(!TestKeys.rsa2048.publicKey.verify(junk, over: Self.message, scheme: .rsaPKCS1(.sha256)))
            #expect(!TestKeys.ed25519.publicKey.verify(junk, over: Self.message, scheme: .ed25519))
        }
    }

    @Test func ecdsaSignaturesAreDEREncoded() throws {
        let signature = try TestKeys.p256.sign(Self.message, scheme: .ecdsa(.sha256))
        #expect(signature.first == 0x30 && Int(signature[1]) == signature.count - 2)
    }

    /// RFC 7427 Appendix A's AlgorithmIdentifier bytes (and strongSwan's for PSS, salt = hash length).
    @Test func rfc7427AlgorithmIdentifiers() {
        let expected: [(SignatureScheme, String)] = [
            (.rsaPKCS1(.sha256), "300d06092a864886f70d01010b0500"),
            (.rsaPKCS1(.sha384), "300d06092a864886f70d01010c0500"),
            (.rsaPKCS1(.sha512), "300d06092a864886f70d01010d0500"),
            (.ecdsa(.sha256), "300a06082a8648ce3d040302"),
            (.ecdsa(.sha384), "300a06082a8648ce3d040303"),
            (.ecdsa(.sha512), "300a06082a8648ce3d040304"),
            (.ed25519, "300506032b6570"),
            (.rsaPSS(.sha256), "304106092a864886f70d01010a3034a00f300d06096086480165030402010500"
                + "a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120"),
        ]
        for (scheme, bytes) in expected {
            #expect(scheme.algorithmIdentifierDER == hex(bytes), "\(scheme)")
        }
        for scheme in SignatureScheme.SHA.allCases.flatMap({ [SignatureScheme.rsaPKCS1($0), .rsaPSS($0), .ecdsa($0)] }) + [.ed25519] {
            #expect(SignatureScheme(algorithmIdentifierDER: scheme.algorithmIdentifierDER) == scheme)
        }
        // ECDSA without parameters also arrives with NULL from some peers; SHA-1 and PSS with other salts are refused.
        #expect(SignatureScheme(algorithmIdentifierDER: hex("300c06082a8648ce3d0403020500")) == .ecdsa(.sha256))
        #expect(SignatureScheme(algorithmIdentifierDER: hex("300d06092a864886f70d0101050500")) == nil)
        #expect(SignatureScheme(algorithmIdentifierDER: hex("300b06092a864886f70d01010a")) == nil)
        #expect(SignatureScheme(algorithmIdentifierDER: hex("304106092a864886f70d01010a3034a00f300d06096086480165030402010500"
            + "a11c301a06092a864886f70d010108300d06096086480165030402010500a203020110")) == nil)
        #expect(SignatureScheme(algorithmIdentifierDER: []) == nil)
    }

    @Test func strongSwanDefaultSchemes() {
        #expect(SignatureScheme.defaultScheme(for: .rsa(bits: 2048)) == .rsaPKCS1(.sha256))
        #expect(SignatureScheme.defaultScheme(for: .rsa(bits: 3072)) == .rsaPKCS1(.sha256))
        #expect(SignatureScheme.defaultScheme(for: .rsa(bits: 4096)) == .rsaPKCS1(.sha384))
        #expect(SignatureScheme.defaultScheme(for: .rsa(bits: 8192)) == .rsaPKCS1(.sha512))
        #expect(SignatureScheme.defaultScheme(for: .rsa(bits: 4096), pss: true) == .rsaPSS(.sha384))
        #expect(SignatureScheme.defaultScheme(for: .ecdsa(bits: 256)) == .ecdsa(.sha256))
        #expect(SignatureScheme.defaultScheme(for: .ecdsa(bits: 384)) == .ecdsa(.sha384))
        #expect(SignatureScheme.defaultScheme(for: .ecdsa(bits: 521)) == .ecdsa(.sha512))
        #expect(SignatureScheme.defaultScheme(for: .ed25519) == .ed25519)
    }
}
