import Testing
@testable import TernPKI

@Suite struct EncryptedKeyTests {
    /// `openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 1000 -passout pass:tern-test` of a fresh
    /// P-256 key, and that key's SubjectPublicKeyInfo from `openssl pkey -pubout -outform der`.
    static let encrypted = """
        -----BEGIN ENCRYPTED PRIVATE KEY-----
        MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhfYekAphL3sQICA+gw
        DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEC8i5rFlvTlO6fKZ2LbwayQEgZCx
        j17LsIs+wWBKAsomeXpwHTPVMydSHX/7DbNSqXnEJeIJzEIZIYNwHq4XbjHeK6Bc
        sMQ5HSBQcc0niU2rP6Pv8U5B2o+n2UTKWbIyB6Fh1246Dglddbn0etbkwinaIU78
        zJfPBqjMyg1WMwrqRqhocWKnDOYgM/XWqAMtA5a1zp6PHHbcxVi9aOwNMjfFtJI=
        -----END ENCRYPTED PRIVATE KEY-----

        """
    static let publicKeyInfo = hex("3059301306072a8648ce3d020106082a8648ce3d03010703420004594032c06a5f95111bcdbeecf73f120ffa9022881a87b07f"
        + "f4e991afb20c36df3c5895b2ef329f1e0a313b7eafe93b8613b04d402fcb14f9092a127f565aaec5")

    @Test func opensslPBES2KeysDecrypt() throws {
        let key = try PrivateKeyBundle.load(Array(Self.encrypted.utf8), passphrase: "tern-test")
        #expect(key.publicKey.subjectPublicKeyInfo == Self.publicKeyInfo)
        let der = try PEM.decodeAll(Self.encrypted)[0].der
        #expect(try PrivateKeyBundle.load(der, passphrase: "tern-test").publicKey.subjectPublicKeyInfo == Self.publicKeyInfo)
    }

    @Test func wrongOrMissingPassphraseIsAnError() {
        #expect(throws: PKIError(.encryptedKey, "")) { _ = try PrivateKeyBundle.load(Array(Self.encrypted.utf8), passphrase: "wrong") }
        #expect(throws: PKIError(.encryptedKey, "")) { _ = try PrivateKeyBundle.load(Array(Self.encrypted.utf8), passphrase: nil) }
        #expect(throws: PKIError(.encryptedKey, "")) { _ = try PrivateKeyBundle.load(Array(Self.encrypted.utf8)) }
    }

    @Test func plainKeysLoadWithOrWithoutAPassphrase() throws {
        #expect(try PrivateKeyBundle.load(TestKeys.p256.derEncoded, passphrase: "unused").publicKey == TestKeys.p256.publicKey)
    }
}
