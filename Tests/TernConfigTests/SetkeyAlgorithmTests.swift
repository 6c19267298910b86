import Testing
import TernConfig
import TernDataPlane
import TernCrypto

/// Every algorithm setkey can name: accepted ones map onto Tern's transforms with the right key
/// lengths; wrong lengths and refused names fail at the right token with a useful message.
@Suite struct SetkeyAlgorithmTests {
    struct Accepted: CustomTestStringConvertible, Sendable {
        let spec: String                  // everything after the SPI
        let encryption: EncryptionAlgorithm
        let encryptionKeyLength: Int
        let integrity: IntegrityAlgorithm
        let integrityKeyLength: Int
        var testDescription: String { spec.split(separator: " ").filter { !$0.hasPrefix("0x") }.joined(separator: " ") }
    }

    static let accepted: [Accepted] = [
        .init(spec: "-E aes-cbc \(hexKey(16)) -A hmac-sha256 \(hexKey(32))", encryption: .aesCBC(keyBits: 128), encryptionKeyLength: 16, integrity: .hmacSHA256_128, integrityKeyLength: 32),
        .init(spec: "-E rijndael-cbc \(hexKey(24)) -A hmac-sha384 \(hexKey(48))", encryption: .aesCBC(keyBits: 192), encryptionKeyLength: 24, integrity: .hmacSHA384_192, integrityKeyLength: 48),
        .init(spec: "-E rijndael-cbc \(hexKey(32)) -A hmac-sha512 \(hexKey(64))", encryption: .aesCBC(keyBits: 256), encryptionKeyLength: 32, integrity: .hmacSHA512_256, integrityKeyLength: 64),
        .init(spec: "-E aes-cbc \(hexKey(32)) -A hmac-sha1 \(hexKey(20))", encryption: .aesCBC(keyBits: 256), encryptionKeyLength: 32, integrity: .hmacSHA1_96, integrityKeyLength: 20),
        .init(spec: "-E aes-gcm-16 \(hexKey(20))", encryption: .aesGCM16(keyBits: 128), encryptionKeyLength: 20, integrity: .none, integrityKeyLength: 0),
        .init(spec: "-E aes-gcm-16 \(hexKey(28))", encryption: .aesGCM16(keyBits: 192), encryptionKeyLength: 28, integrity: .none, integrityKeyLength: 0),
        .init(spec: "-E rfc4106(gcm(aes)) \(hexKey(36))", encryption: .aesGCM16(keyBits: 256), encryptionKeyLength: 36, integrity: .none, integrityKeyLength: 0),
        .init(spec: "-E aes-gcm-16 \(hexKey(36)) -A null", encryption: .aesGCM16(keyBits: 256), encryptionKeyLength: 36, integrity: .none, integrityKeyLength: 0),
        .init(spec: "-E chacha20-poly1305 \(hexKey(36))", encryption: .chacha20Poly1305, encryptionKeyLength: 36, integrity: .none, integrityKeyLength: 0),
        .init(spec: "-E null -A hmac-sha256 \(hexKey(32))", encryption: .null, encryptionKeyLength: 0, integrity: .hmacSHA256_128, integrityKeyLength: 32),
        .init(spec: "-E null -A hmac-sha512 \(hexKey(64))", encryption: .null, encryptionKeyLength: 0, integrity: .hmacSHA512_256, integrityKeyLength: 64),
        // The harness's AES-GMAC spelling, and the -E spellings of the same transform.
        .init(spec: "-E null -A aes-gmac \(hexKey(36))", encryption: .aesGMAC(keyBits: 256), encryptionKeyLength: 36, integrity: .none, integrityKeyLength: 0),
        .init(spec: "-E null -A aes-gmac \(hexKey(20))", encryption: .aesGMAC(keyBits: 128), encryptionKeyLength: 20, integrity: .none, integrityKeyLength: 0),
        .init(spec: "-A aes-gmac \(hexKey(28))", encryption: .aesGMAC(keyBits: 192), encryptionKeyLength: 28, integrity: .none, integrityKeyLength: 0),
        .init(spec: "-E null_aes_gmac \(hexKey(36))", encryption: .aesGMAC(keyBits: 256), encryptionKeyLength: 36, integrity: .none, integrityKeyLength: 0),
        .init(spec: "-E aes-gmac \(hexKey(20))", encryption: .aesGMAC(keyBits: 128), encryptionKeyLength: 20, integrity: .none, integrityKeyLength: 0),
    ]

    @Test(arguments: accepted)
    func acceptedAlgorithm(_ a: Accepted) throws {
        let c = try #require(sa("add 192.0.2.1 192.0.2.2 esp 0x1001 \(a.spec);"))
        #expect(c.encryption == a.encryption)
        #expect(c.encryptionKey.count == a.encryptionKeyLength)
        #expect(c.encryptionKey.count == c.encryption.keyMaterialLength)
        #expect(c.integrity == a.integrity)
        #expect(c.integrityKey.count == a.integrityKeyLength)
        #expect(c.integrityKey.count == c.integrity.keyLength)
    }

    struct WrongLength: CustomTestStringConvertible, Sendable {
        let option: String
        let name: String
        let given: Int
        let message: String
        var testDescription: String { "\(option) \(name) with \(given) bytes" }
    }

    static let wrongLengths: [WrongLength] = [
        .init(option: "-E", name: "aes-gcm-16", given: 32, message: "aes-gcm-16 needs a 20-, 28- or 36-byte key (key ‖ 4-byte salt), got 32 bytes"),
        .init(option: "-E", name: "aes-gcm-16", given: 16, message: "aes-gcm-16 needs a 20-, 28- or 36-byte key (key ‖ 4-byte salt), got 16 bytes"),
        .init(option: "-E", name: "aes-cbc", given: 20, message: "aes-cbc needs a 16-, 24- or 32-byte key, got 20 bytes"),
        .init(option: "-E", name: "rijndael-cbc", given: 8, message: "rijndael-cbc needs a 16-, 24- or 32-byte key, got 8 bytes"),
        .init(option: "-E", name: "chacha20-poly1305", given: 32, message: "chacha20-poly1305 needs a 36-byte key (32-byte key ‖ 4-byte salt), got 32 bytes"),
        .init(option: "-E", name: "null_aes_gmac", given: 16, message: "null_aes_gmac needs a 20-, 28- or 36-byte key (key ‖ 4-byte salt), got 16 bytes"),
        .init(option: "-A", name: "aes-gmac", given: 32, message: "aes-gmac needs a 20-, 28- or 36-byte key (key ‖ 4-byte salt), got 32 bytes"),
        .init(option: "-A", name: "hmac-sha1", given: 16, message: "hmac-sha1 needs a 20-byte key, got 16 bytes"),
        .init(option: "-A", name: "hmac-sha256", given: 16, message: "hmac-sha256 needs a 32-byte key, got 16 bytes"),
        .init(option: "-A", name: "hmac-sha384", given: 32, message: "hmac-sha384 needs a 48-byte key, got 32 bytes"),
        .init(option: "-A", name: "hmac-sha512", given: 1, message: "hmac-sha512 needs a 64-byte key, got 1 byte"),
    ]

    @Test(arguments: wrongLengths)
    func wrongKeyLength(_ w: WrongLength) throws {
        // The key token starts at a known column so the location can be asserted.
        let head = w.option == "-E" ? "add 192.0.2.1 192.0.2.2 esp 0x1001 -E " : "add 192.0.2.1 192.0.2.2 esp 0x1001 -E null -A "
        let text = head + "\(w.name) \(hexKey(w.given));"
        let e = try #require(parseError(text))
        #expect(e.message == w.message)
        #expect(e.location.line == 1)
        #expect(e.location.column == head.count + w.name.count + 2)
        #expect(e.hint?.contains("openssl rand -hex") == true)
        #expect(!e.description.contains("abab"), "key bytes never appear in an error")
    }

    @Test(arguments: ["des-cbc", "3des-cbc", "blowfish-cbc", "cast128-cbc", "des-deriv", "twofish-cbc", "aes-ctr", "aes-gcm-8", "aes-gcm-12", "camellia-cbc"])
    func refusedEncryption(_ name: String) throws {
        let e = try #require(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E \(name) \(hexKey(24)) -A hmac-sha256 \(hexKey(32));"))
        #expect(e.message.contains("not supported"))
        #expect(e.location.column == 39)
        #expect(e.hint?.contains("aes-gcm-16") == true)
    }

    @Test(arguments: ["hmac-md5", "keyed-md5", "keyed-sha1", "hmac-ripemd160", "aes-xcbc-mac"])
    func refusedIntegrity(_ name: String) throws {
        let e = try #require(parseError("add 192.0.2.1 192.0.2.2 ah 0x1001 -A \(name) \(hexKey(16));"))
        #expect(e.message.contains("not supported"))
        #expect(e.hint == "use -A hmac-sha256")
    }

    @Test func unsafeCombinations() {
        // CBC without integrity, NULL without integrity, an AEAD with an extra HMAC, ESP without -E.
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-cbc \(hexKey(16));")?.message.contains("needs an HMAC") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-cbc \(hexKey(16)) -A null;")?.message.contains("needs an HMAC") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E null;")?.message.contains("neither encrypted nor authenticated") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E null -A null;")?.message.contains("neither encrypted nor authenticated") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16 \(hexKey(20)) -A hmac-sha256 \(hexKey(32));")?.message.contains("takes no -A") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -A hmac-sha256 \(hexKey(32));")?.hint?.contains("-E null") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001;")?.message.contains("needs an encryption algorithm") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 ah 0x1001 -A aes-gmac \(hexKey(20));")?.message.contains("AES-GMAC with AH") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 ah 0x1001 -A null;")?.message.contains("authenticate nothing") == true)
    }

    @Test func keySyntaxErrors() throws {
        let odd = try #require(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16 0xabc;"))
        #expect(odd.message.contains("odd number"))
        let bad = try #require(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16 0xabzd;"))
        #expect(bad.location.column == 54, "points at the bad digit")
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16 0x;")?.message == "expected hex digits after 0x")
        let missing = try #require(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16 -m tunnel;"))
        #expect(missing.message.contains("expected a key after aes-gcm-16"))
        #expect(missing.location.column == 50)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16;")?.message.contains("found `;`") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E null 0x00 -A hmac-sha1 \(hexKey(20));")?.message == "null takes no key")
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E hmac-sha256 \(hexKey(32));")?.hint == "write it after -A")
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E rot13 \(hexKey(32));")?.message.contains("unknown encryption") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 ah 0x1001 -A aes-cbc \(hexKey(32));")?.hint == "write it after -E")
        // A key in the wrong place is described, never echoed.
        let stray = try #require(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16 \(hexKey(20)) \(hexKey(20, byte: 0xcd));"))
        #expect(stray.message.contains("40 hex digits"))
        #expect(!stray.description.contains("cdcd"))
        let misplaced = try #require(parseError("add 192.0.2.1 192.0.2.2 esp \(hexKey(36, byte: 0xcd)) -E aes-gcm-16 \(hexKey(20));"))
        #expect(!misplaced.description.contains("cdcd"))
    }
}
