import CTernLibcrypto
import Testing
import TernCrypto

/// AES-GCM runs on intel-ipsec-mb where the CPU allows and on OpenSSL elsewhere: both must
/// produce the same bytes, accept each other's packets, and refuse tampered ones the same way.
@Suite struct AEADBackendTests {
    static func context(_ key: [UInt8], _ backend: Int32) -> OpaquePointer? {
        key.withUnsafeBufferPointer { tern_aead_new_on(Int32(TERN_AEAD_AES_GCM), $0.baseAddress, key.count, backend) }
    }

    static var ipsecMBHere: Bool { tern_aead_gcm_backend() == Int32(TERN_AEAD_BACKEND_IPSEC_MB) }

    @Test func theBackendInUseIsReported() {
        let name = ESPCipher.aesGCMBackend
        #expect(name == "OpenSSL" || name.hasPrefix("intel-ipsec-mb "))
        // AUTO picks what tern_aead_gcm_backend says, and OpenSSL can always be had.
        let key = [UInt8](repeating: 7, count: 32)
        let auto = Self.context(key, Int32(TERN_AEAD_BACKEND_AUTO)), openssl = Self.context(key, Int32(TERN_AEAD_BACKEND_OPENSSL))
        defer { tern_aead_free(auto); tern_aead_free(openssl) }
        #expect(tern_aead_backend(auto) == tern_aead_gcm_backend())
        #expect(tern_aead_backend(openssl) == Int32(TERN_AEAD_BACKEND_OPENSSL))
    }

    @Test(.enabled(if: ipsecMBHere), arguments: [16, 24, 32])
    func bothBackendsAgreeAndOpenEachOthersPackets(keyLength: Int) throws {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<200 {
            let key = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let nonce = (0..<12).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let aad = (0..<(round % 2 == 0 ? 8 : 12)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let plain = (0..<Int.random(in: 0...2000, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let mb = try #require(Self.context(key, Int32(TERN_AEAD_BACKEND_IPSEC_MB)))
            let ossl = try #require(Self.context(key, Int32(TERN_AEAD_BACKEND_OPENSSL)))
            defer { tern_aead_free(mb); tern_aead_free(ossl) }
            var a = plain, b = plain
            var tagA = [UInt8](repeating: 0, count: 16), tagB = tagA
            #expect(tern_aead_seal(mb, nonce, aad, aad.count, nil, 0, &a, a.count, &tagA) == 1)
            #expect(tern_aead_seal(ossl, nonce, aad, aad.count, nil, 0, &b, b.count, &tagB) == 1)
            #expect(a == b && tagA == tagB, "ciphertexts differ at round \(round)")
            // Each opens the other's; the AAD may come in two pieces.
            var x = a, y = b
            #expect(tern_aead_open(ossl, nonce, aad, aad.count, nil, 0, &x, x.count, tagA) == 1 && x == plain)
            #expect(tern_aead_open(mb, nonce, Array(aad.prefix(4)), 4, Array(aad.dropFirst(4)), aad.count - 4, &y, y.count, tagB) == 1 && y == plain)
        }
    }

    @Test(.enabled(if: ipsecMBHere))
    func aTamperedPacketIsRefusedAndItsPlaintextWiped() throws {
        let key = [UInt8](repeating: 0x42, count: 32), nonce = [UInt8](repeating: 1, count: 12), aad = [UInt8](repeating: 2, count: 8)
        let mb = try #require(Self.context(key, Int32(TERN_AEAD_BACKEND_IPSEC_MB)))
        defer { tern_aead_free(mb) }
        let plain = Array("a packet that must not leak when its tag is wrong".utf8)
        var text = plain, tag = [UInt8](repeating: 0, count: 16)
        #expect(tern_aead_seal(mb, nonce, aad, 8, nil, 0, &text, text.count, &tag) == 1)
        for flip in [0, text.count - 1] {
            var bad = text
            bad[flip] ^= 1
            #expect(tern_aead_open(mb, nonce, aad, 8, nil, 0, &bad, bad.count, tag) == 0)
            #expect(bad.allSatisfy { $0 == 0 })
        }
        var badTag = tag
        badTag[15] ^= 0x80
        var copy = text
        #expect(tern_aead_open(mb, nonce, aad, 8, nil, 0, &copy, copy.count, badTag) == 0)
        var wrongAAD = text
        #expect(tern_aead_open(mb, nonce, [UInt8](repeating: 3, count: 8), 8, nil, 0, &wrongAAD, wrongAAD.count, tag) == 0)
    }

    @Test(.enabled(if: ipsecMBHere))
    func aDuplicatedContextIsIndependentAndEquivalent() throws {
        let key = [UInt8](repeating: 9, count: 16), nonce = [UInt8](repeating: 4, count: 12), aad = [UInt8](repeating: 5, count: 8)
        let mb = try #require(Self.context(key, Int32(TERN_AEAD_BACKEND_IPSEC_MB)))
        let copy = try #require(tern_aead_dup(mb))
        tern_aead_free(mb)
        defer { tern_aead_free(copy) }
        #expect(tern_aead_backend(copy) == Int32(TERN_AEAD_BACKEND_IPSEC_MB))
        var text = [UInt8](repeating: 0xAB, count: 100), tag = [UInt8](repeating: 0, count: 16)
        #expect(tern_aead_seal(copy, nonce, aad, 8, nil, 0, &text, text.count, &tag) == 1)
        let ossl = try #require(Self.context(key, Int32(TERN_AEAD_BACKEND_OPENSSL)))
        defer { tern_aead_free(ossl) }
        #expect(tern_aead_open(ossl, nonce, aad, 8, nil, 0, &text, text.count, tag) == 1 && text == [UInt8](repeating: 0xAB, count: 100))
    }
}
