import TernCrypto
import TernDataPlane

/// setkey's `-E` names, as ipsec-tools and the Linux kernel spell them, mapped onto Tern's
/// transforms. Names that setkey knows but Tern refuses are listed too, so the error can say why.
enum SetkeyEncryption: Sendable, Hashable {
    case null
    case aesCBC
    case aesGCM16
    case chacha20Poly1305
    case aesGMAC

    static func named(_ name: String) -> SetkeyEncryption? {
        switch name {
        case "null", "null-enc": .null
        case "aes-cbc", "rijndael-cbc", "cbc(aes)": .aesCBC
        case "aes-gcm-16", "rfc4106(gcm(aes))": .aesGCM16
        case "chacha20-poly1305", "rfc7539esp(chacha20,poly1305)": .chacha20Poly1305
        case "aes-gmac", "null_aes_gmac", "null-aes-gmac", "rfc4543(gcm(aes))": .aesGMAC
        default: nil
        }
    }

    /// Why a name setkey accepts is refused, and what to write instead.
    static func refusal(_ name: String) -> (String, String)? {
        switch name {
        case "des-cbc", "3des-cbc", "des-deriv", "des-32iv", "simple", "blowfish-cbc", "cast128-cbc", "twofish-cbc":
            ("\(name) is insecure and not supported", "use -E aes-gcm-16 (or aes-cbc with -A hmac-sha256)")
        case "aes-gcm-8", "aes-gcm-12":
            ("\(name) (a truncated ICV) is not supported", "use aes-gcm-16, the 16-byte ICV that RFC 4106 recommends")
        case "aes-ctr", "camellia-cbc", "aes-ccm-8", "aes-ccm-12", "aes-ccm-16", "serpent-cbc":
            ("\(name) is not supported", "use -E aes-gcm-16, aes-cbc or chacha20-poly1305")
        default:
            nil
        }
    }

    /// Valid key material lengths in bytes (including the 4-byte salt of the combined modes).
    var keyLengths: [Int] {
        switch self {
        case .null: []
        case .aesCBC: [16, 24, 32]
        case .aesGCM16, .aesGMAC: [20, 28, 36]
        case .chacha20Poly1305: [36]
        }
    }

    var keyLengthNote: String {
        switch self {
        case .aesGCM16, .aesGMAC: " (key ‖ 4-byte salt)"
        case .chacha20Poly1305: " (32-byte key ‖ 4-byte salt)"
        default: ""
        }
    }

    func algorithm(keyLength n: Int) -> EncryptionAlgorithm {
        switch self {
        case .null: .null
        case .aesCBC: .aesCBC(keyBits: n * 8)
        case .aesGCM16: .aesGCM16(keyBits: (n - 4) * 8)
        case .chacha20Poly1305: .chacha20Poly1305
        case .aesGMAC: .aesGMAC(keyBits: (n - 4) * 8)
        }
    }
}

/// setkey's `-A` names.
enum SetkeyAuthentication: Sendable, Hashable {
    case null
    case hmac(IntegrityAlgorithm)
    /// ENCR_NULL_AUTH_AES_GMAC (RFC 4543), which ESP models as an encryption transform.
    case aesGMAC

    static func named(_ name: String) -> SetkeyAuthentication? {
        switch name {
        case "null", "non-auth": .null
        case "hmac-sha1", "hmac(sha1)": .hmac(.hmacSHA1_96)
        case "hmac-sha256", "hmac-sha2-256", "hmac(sha256)": .hmac(.hmacSHA256_128)
        case "hmac-sha384", "hmac-sha2-384", "hmac(sha384)": .hmac(.hmacSHA384_192)
        case "hmac-sha512", "hmac-sha2-512", "hmac(sha512)": .hmac(.hmacSHA512_256)
        case "aes-gmac", "null_aes_gmac", "null-aes-gmac", "rfc4543(gcm(aes))": .aesGMAC
        default: nil
        }
    }

    static func refusal(_ name: String) -> (String, String)? {
        switch name {
        case "hmac-md5", "keyed-md5", "keyed-sha1", "hmac-ripemd160", "tcp-md5":
            ("\(name) is insecure or obsolete and not supported", "use -A hmac-sha256")
        case "aes-xcbc-mac", "aes-cmac":
            ("\(name) is not supported", "use -A hmac-sha256")
        default:
            nil
        }
    }

    var keyLengths: [Int] {
        switch self {
        case .null: []
        case .hmac(let a): [a.keyLength]
        case .aesGMAC: [20, 28, 36]
        }
    }

    var keyLengthNote: String { self == .aesGMAC ? " (key ‖ 4-byte salt)" : "" }
}

/// One `-E`/`-A` argument as written.
struct AlgorithmChoice<Kind: Sendable & Hashable>: Sendable {
    var kind: Kind
    var nameToken: SetkeyToken
    var key: [UInt8]
    var keyToken: SetkeyToken?
}

/// The extensions and algorithms after an SA's SPI, collected in any order and checked together.
struct SAOptions {
    var mode: IPSecMode?
    var replay: (Int, SetkeyToken)?
    var reqid: UInt32?
    var esn: SetkeyToken?
    var hardSeconds: UInt64?
    var softSeconds: (UInt64, SetkeyToken)?
    var hardBytes: UInt64?
    var softBytes: (UInt64, SetkeyToken)?
    var encryption: AlgorithmChoice<SetkeyEncryption>?
    var authentication: AlgorithmChoice<SetkeyAuthentication>?
    var seen: Set<String> = []

    /// Fills `sa` from the options; refuses combinations the data plane cannot run or that
    /// would leave traffic unauthenticated.
    func apply(to sa: inout SAConfig, parser p: SetkeyStatementParser, statementEnd c: TokenCursor) throws(ConfigError) {
        if let mode { sa.mode = mode }
        if let r = replay?.0 { sa.replayWindow = r }
        if let reqid { sa.reqid = reqid }
        if let t = esn {
            if sa.replayWindow == 0 {
                throw p.error(t, "extended sequence numbers need a replay window (RFC 4303 §2.2.1: the receiver infers the high 32 bits from it)",
                              hint: "remove -r 0 or -f esn")
            }
            sa.extendedSequenceNumbers = true
        }
        if let hardSeconds { sa.hardLifetimeSeconds = hardSeconds }
        if let hardBytes { sa.hardLifetimeBytes = hardBytes }
        if case let (s, t)? = softSeconds {
            if sa.hardLifetimeSeconds != 0 && s > sa.hardLifetimeSeconds {
                throw p.error(t, "the soft lifetime (\(s) s) is longer than the hard lifetime (\(sa.hardLifetimeSeconds) s)",
                              hint: "make -ls smaller than -lh")
            }
            sa.softLifetimeSeconds = s
        }
        if case let (s, t)? = softBytes {
            if sa.hardLifetimeBytes != 0 && s > sa.hardLifetimeBytes {
                throw p.error(t, "the soft byte limit (\(s)) is larger than the hard byte limit (\(sa.hardLifetimeBytes))",
                              hint: "make -bs smaller than -bh")
            }
            sa.softLifetimeBytes = s
        }

        switch sa.proto {
        case .ah:
            if let e = encryption {
                throw p.error(e.nameToken, "AH authenticates only; it takes no -E",
                              hint: "remove -E, or use esp to encrypt")
            }
            guard let a = authentication else {
                throw ConfigError(location: p.endLocation(c), message: "an AH SA needs an integrity algorithm",
                                  hint: "add -A hmac-sha256 0x<64 hex digits>")
            }
            switch a.kind {
            case .hmac(let alg):
                sa.integrity = alg; sa.integrityKey = KeyMaterial(a.key)
            case .null:
                throw p.error(a.nameToken, "AH with -A null would authenticate nothing", hint: "use -A hmac-sha256")
            case .aesGMAC:
                throw p.error(a.nameToken, "AES-GMAC with AH is not supported", hint: "use -A hmac-sha256, or esp with -E null -A aes-gmac")
            }
        case .esp:
            try applyESP(to: &sa, parser: p, statementEnd: c)
        }
    }

    private func applyESP(to sa: inout SAConfig, parser p: SetkeyStatementParser, statementEnd c: TokenCursor) throws(ConfigError) {
        let auth = authentication
        guard let enc = encryption else {
            // `-A aes-gmac KEY` alone is unambiguous: ENCR_NULL_AUTH_AES_GMAC.
            if let a = auth, a.kind == .aesGMAC {
                sa.encryption = SetkeyEncryption.aesGMAC.algorithm(keyLength: a.key.count)
                sa.encryptionKey = KeyMaterial(a.key)
                return
            }
            throw ConfigError(location: p.endLocation(c), message: "an ESP SA needs an encryption algorithm (-E)",
                              hint: auth == nil ? "add -E aes-gcm-16 0x<72 hex digits>"
                                                : "for authentication only, write -E null before -A")
        }
        switch enc.kind {
        case .aesGCM16, .chacha20Poly1305, .aesGMAC:
            if let a = auth, a.kind != .null {
                throw p.error(a.nameToken, "\(enc.nameToken.text) authenticates the packet itself (combined mode); it takes no -A",
                              hint: "remove -A \(a.nameToken.text) and its key")
            }
            sa.encryption = enc.kind.algorithm(keyLength: enc.key.count)
            sa.encryptionKey = KeyMaterial(enc.key)
            sa.integrity = .none
        case .null:
            guard let a = auth else {
                throw p.error(enc.nameToken, "-E null without -A would send packets neither encrypted nor authenticated",
                              hint: "add -A hmac-sha256 0x<64 hex digits>, or choose an encryption algorithm")
            }
            switch a.kind {
            case .aesGMAC:
                sa.encryption = SetkeyEncryption.aesGMAC.algorithm(keyLength: a.key.count)
                sa.encryptionKey = KeyMaterial(a.key)
                sa.integrity = .none
            case .hmac(let alg):
                sa.encryption = .null
                sa.integrity = alg; sa.integrityKey = KeyMaterial(a.key)
            case .null:
                throw p.error(a.nameToken, "-E null with -A null would send packets neither encrypted nor authenticated",
                              hint: "use -A hmac-sha256, or choose an encryption algorithm")
            }
        case .aesCBC:
            guard let a = auth, case .hmac(let alg) = a.kind else {
                let at = auth?.nameToken ?? enc.nameToken
                throw p.error(at, "\(enc.nameToken.text) needs an HMAC: CBC without integrity is open to forgery and padding-oracle attacks",
                              hint: "add -A hmac-sha256 0x<64 hex digits>, or use -E aes-gcm-16")
            }
            sa.encryption = enc.kind.algorithm(keyLength: enc.key.count)
            sa.encryptionKey = KeyMaterial(enc.key)
            sa.integrity = alg; sa.integrityKey = KeyMaterial(a.key)
        }
    }
}

extension SetkeyStatementParser {
    /// Parses extensions and algorithms up to the `;`. `allowAlgorithms` is false for get/delete,
    /// whose extensions setkey accepts and ignores.
    func parseSAOptions(_ c: inout TokenCursor, into o: inout SAOptions, allowAlgorithms: Bool,
                        command: String) throws(ConfigError) {
        while let t = c.next() {
            guard t.kind == .word, t.text.hasPrefix("-") else {
                throw error(t, "expected an option such as -m, -r, -E or -A, found \(describe(t))",
                            hint: allowAlgorithms ? "a key belongs right after its algorithm: -E aes-gcm-16 0x…" : nil)
            }
            if t.text != "-f" {
                guard !o.seen.contains(t.text) else { throw error(t, "\(t.text) is given twice", hint: "keep one") }
                o.seen.insert(t.text)
            }
            switch t.text {
            case "-m":
                let m = try expectWord(&c, "mode (transport, tunnel or any) after -m")
                switch m.text {
                case "transport": o.mode = .transport
                case "tunnel": o.mode = .tunnel
                case "any": o.mode = .any
                default: throw error(m, "expected mode transport, tunnel or any after -m, found '\(SetkeyLexer.quote(m.text))'")
                }
            case "-r":
                let n = try expectWord(&c, "replay window size after -r")
                guard let v = parseUnsigned(n.text, allowHex: false) else {
                    throw error(n, "expected a replay window size in packets after -r, found '\(SetkeyLexer.quote(n.text))'")
                }
                guard v <= UInt64(SAConfig.maximumReplayWindow) else {
                    throw error(n, "a replay window of \(n.text) packets is larger than Tern's maximum of \(SAConfig.maximumReplayWindow)",
                                hint: "use -r \(SAConfig.maximumReplayWindow) or less (Tern counts -r in packets, as Linux does)")
                }
                o.replay = (Int(v), n)
            case "-u":
                let n = try expectWord(&c, "reqid after -u")
                guard let v = parseUnsigned(n.text, allowHex: false), v <= UInt64(UInt32.max) else {
                    throw error(n, "expected a reqid (0–4294967295) after -u, found '\(SetkeyLexer.quote(n.text))'")
                }
                o.reqid = UInt32(v)
            case "-f":
                let f = try expectWord(&c, "flag after -f (esn, nocyclic-seq, zero-pad, random-pad or seq-pad)")
                switch f.text {
                case "esn": o.esn = f
                // Tern never wraps sequence numbers (RFC 4303 §3.3.3) and always pads 1, 2, 3…
                // (§2.4); these flags ask for nothing that changes security, so they are accepted.
                case "nocyclic-seq", "zero-pad", "random-pad", "seq-pad": break
                default:
                    throw error(f, "unknown flag '\(SetkeyLexer.quote(f.text))' after -f",
                                hint: "Tern knows -f esn, nocyclic-seq, zero-pad, random-pad and seq-pad")
                }
            case "-lh", "-ls", "-bh", "-bs":
                let unit = t.text.hasPrefix("-l") ? "seconds" : "bytes"
                let n = try expectWord(&c, "a number of \(unit) after \(t.text)")
                guard let v = parseUnsigned(n.text, allowHex: false) else {
                    throw error(n, "expected a number of \(unit) after \(t.text), found '\(SetkeyLexer.quote(n.text))'")
                }
                switch t.text {
                case "-lh": o.hardSeconds = v
                case "-ls": o.softSeconds = (v, n)
                case "-bh": o.hardBytes = v
                default: o.softBytes = (v, n)
                }
            case "-E", "-A":
                guard allowAlgorithms else {
                    throw error(t, "\(command) takes no algorithms", hint: "the SA is named by its addresses, protocol and SPI alone")
                }
                if t.text == "-E" { o.encryption = try parseEncryption(&c, option: t) } else { o.authentication = try parseAuthentication(&c, option: t) }
            case "-C", "-R":
                throw error(t, "ipcomp (IP payload compression) is not supported", hint: "remove \(t.text)")
            default:
                throw error(t, "unknown option '\(SetkeyLexer.quote(t.text))'",
                            hint: "SA options are -m, -r, -u, -f, -lh, -ls, -bh, -bs, -E and -A")
            }
        }
    }

    func parseEncryption(_ c: inout TokenCursor, option: SetkeyToken) throws(ConfigError) -> AlgorithmChoice<SetkeyEncryption> {
        let name = try expectWord(&c, "encryption algorithm after -E", hint: "for example -E aes-gcm-16 0x<72 hex digits>")
        guard let kind = SetkeyEncryption.named(name.text) else {
            if case let (why, fix)? = SetkeyEncryption.refusal(name.text) { throw error(name, why, hint: fix) }
            if SetkeyAuthentication.named(name.text) != nil {
                throw error(name, "\(name.text) is an integrity algorithm, not an encryption algorithm", hint: "write it after -A")
            }
            throw error(name, "unknown encryption algorithm '\(SetkeyLexer.quote(name.text))'",
                        hint: "use aes-gcm-16, aes-cbc (rijndael-cbc), chacha20-poly1305, aes-gmac or null")
        }
        let (key, keyToken) = try parseKey(&c, algorithm: name, lengths: kind.keyLengths, note: kind.keyLengthNote)
        return AlgorithmChoice(kind: kind, nameToken: name, key: key, keyToken: keyToken)
    }

    func parseAuthentication(_ c: inout TokenCursor, option: SetkeyToken) throws(ConfigError) -> AlgorithmChoice<SetkeyAuthentication> {
        let name = try expectWord(&c, "integrity algorithm after -A", hint: "for example -A hmac-sha256 0x<64 hex digits>")
        guard let kind = SetkeyAuthentication.named(name.text) else {
            if case let (why, fix)? = SetkeyAuthentication.refusal(name.text) { throw error(name, why, hint: fix) }
            if SetkeyEncryption.named(name.text) != nil {
                throw error(name, "\(name.text) is an encryption algorithm, not an integrity algorithm", hint: "write it after -E")
            }
            throw error(name, "unknown integrity algorithm '\(SetkeyLexer.quote(name.text))'",
                        hint: "use hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha1, aes-gmac or null")
        }
        let (key, keyToken) = try parseKey(&c, algorithm: name, lengths: kind.keyLengths, note: kind.keyLengthNote)
        return AlgorithmChoice(kind: kind, nameToken: name, key: key, keyToken: keyToken)
    }

    /// A key after an algorithm: `0x` and an even number of hex digits, or a `"quoted string"`
    /// (its UTF-8 bytes). `lengths` empty means the algorithm takes no key.
    func parseKey(_ c: inout TokenCursor, algorithm name: SetkeyToken, lengths: [Int], note: String)
        throws(ConfigError) -> ([UInt8], SetkeyToken?) {
        let next = c.peek
        let looksLikeKey = next.map { $0.kind == .quoted || $0.text.hasPrefix("0x") || $0.text.hasPrefix("0X") } ?? false
        if lengths.isEmpty {
            if looksLikeKey, let t = next { throw error(t, "\(name.text) takes no key", hint: "remove the key after \(name.text)") }
            return ([], nil)
        }
        let largest = lengths.max() ?? 0
        guard looksLikeKey, let t = c.next() else {
            let message = "expected a key after \(name.text) (0x and hex digits, or a \"quoted string\"), found \(describe(next))"
            let hint = "for example \(name.text) 0x<\(largest * 2) hex digits>, from `openssl rand -hex \(largest)`"
            if let n = next { throw error(n, message, hint: hint) }
            throw ConfigError(location: endLocation(c), message: message, hint: hint)
        }
        var key: [UInt8] = []
        if t.kind == .quoted {
            key = Array(t.text.utf8)
        } else {
            let digits = Array(t.text.utf8.dropFirst(2))
            guard !digits.isEmpty else { throw error(t, "expected hex digits after 0x", hint: "write the key as 0x and hex digits") }
            if let bad = digits.firstIndex(where: { !isHexDigit($0) }) {
                throw error(t, offset: bad + 2, "a hex key may hold only 0–9 and a–f",
                            hint: "check the key for a stray character")
            }
            guard digits.count % 2 == 0 else {
                throw error(t, "the key has an odd number of hex digits (\(digits.count))",
                            hint: "each byte is two hex digits; a digit is probably missing")
            }
            key.reserveCapacity(digits.count / 2)
            var i = 0
            while i + 1 < digits.count {
                key.append(hexValue(digits[i]) << 4 | hexValue(digits[i + 1]))
                i += 2
            }
        }
        guard lengths.contains(key.count) else {
            throw error(t, "\(name.text) needs a \(byteList(lengths)) key\(note), got \(key.count) byte\(key.count == 1 ? "" : "s")",
                        hint: "a \(largest)-byte key is 0x and \(largest * 2) hex digits, e.g. from `openssl rand -hex \(largest)`")
        }
        return (key, t)
    }

    /// "32-byte", "20-, 28- or 36-byte".
    func byteList(_ lengths: [Int]) -> String {
        guard lengths.count > 1 else { return "\(lengths.first ?? 0)-byte" }
        let head = lengths.dropLast().map { "\($0)-" }.joined(separator: ", ")
        return "\(head) or \(lengths.last ?? 0)-byte"
    }
}
