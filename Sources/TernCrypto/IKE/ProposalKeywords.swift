/// The keywords of strongSwan 5.9.8's `proposal_keywords_static.txt` (plus the "default"
/// handled by the parser). Ones Tern implements map to algorithms; the rest are listed so
/// the error can say "unsupported" with a reason rather than "unknown".
enum ProposalKeyword: Sendable {
    case encryption(EncryptionAlgorithm)
    case integrity(IntegrityAlgorithm)
    case prf(PRFAlgorithm)
    case keyExchange(KeyExchangeGroup)
    /// "none"/"modpnone": no key exchange (KE_NONE).
    case noKeyExchange
    case esn(Bool)
    case unsupported(reason: String)
}

enum ProposalKeywords {
    static let table: [String: ProposalKeyword] = {
        var table: [String: ProposalKeyword] = [:]
        let notImplemented = ProposalKeyword.unsupported(reason: "not implemented by Tern")

        // Encryption. "aes" alone is AES-128-CBC; "aesNNNgcm" alone is the 16-octet ICV.
        table["null"] = .encryption(.null)
        table["aes"] = .encryption(.aesCBC(keyBits: 128))
        for bits in [128, 192, 256] {
            table["aes\(bits)"] = .encryption(.aesCBC(keyBits: bits))
            for suffix in ["gcm16", "gcm128", "gcm"] { table["aes\(bits)\(suffix)"] = .encryption(.aesGCM16(keyBits: bits)) }
            for suffix in ["gcm8", "gcm64", "gcm12", "gcm96"] {
                table["aes\(bits)\(suffix)"] = .unsupported(reason: "only AES-GCM with the 16-octet ICV is supported (aes\(bits)gcm16)")
            }
            table["aes\(bits)gmac"] = .encryption(.aesGMAC(keyBits: bits))
            table["aes\(bits)ctr"] = notImplemented
            for suffix in ["ccm8", "ccm64", "ccm12", "ccm96", "ccm16", "ccm128", "ccm"] { table["aes\(bits)\(suffix)"] = notImplemented }
            for suffix in ["", "ctr", "ccm8", "ccm64", "ccm12", "ccm96", "ccm16", "ccm128"] { table["camellia\(bits)\(suffix)"] = notImplemented }
            for family in ["blowfish", "serpent", "twofish"] { table["\(family)\(bits)"] = notImplemented }
        }
        table["chacha20poly1305"] = .encryption(.chacha20Poly1305)
        table["chacha20poly1305compat"] = .unsupported(reason: "the pre-RFC 7634 encoding with a key length attribute is not supported (use chacha20poly1305)")
        for keyword in ["des", "3des", "blowfish", "camellia", "cast128", "serpent", "twofish"] { table[keyword] = notImplemented }

        // Integrity.
        for keyword in ["sha", "sha1"] { table[keyword] = .integrity(.hmacSHA1_96) }
        for keyword in ["sha256", "sha2_256"] { table[keyword] = .integrity(.hmacSHA256_128) }
        for keyword in ["sha384", "sha2_384"] { table[keyword] = .integrity(.hmacSHA384_192) }
        for keyword in ["sha512", "sha2_512"] { table[keyword] = .integrity(.hmacSHA512_256) }
        for keyword in ["sha1_160", "sha256_96", "sha2_256_96", "md5", "md5_128", "aesxcbc", "camelliaxcbc", "aescmac"] {
            table[keyword] = notImplemented
        }

        // PRF.
        table["prfsha1"] = .prf(.hmacSHA1)
        table["prfsha256"] = .prf(.hmacSHA256)
        table["prfsha384"] = .prf(.hmacSHA384)
        table["prfsha512"] = .prf(.hmacSHA512)
        for keyword in ["prfmd5", "prfaesxcbc", "prfcamelliaxcbc", "prfaescmac"] { table[keyword] = notImplemented }

        // Key exchange.
        table["none"] = .noKeyExchange
        table["modpnone"] = .noKeyExchange
        table["modp2048"] = .keyExchange(.modp2048)
        table["modp3072"] = .keyExchange(.modp3072)
        table["modp4096"] = .keyExchange(.modp4096)
        table["ecp256"] = .keyExchange(.ecp256)
        table["ecp384"] = .keyExchange(.ecp384)
        table["ecp521"] = .keyExchange(.ecp521)
        table["curve25519"] = .keyExchange(.curve25519)
        table["x25519"] = .keyExchange(.curve25519)
        for keyword in ["modpnull", "modp768", "modp1024", "modp1536", "modp1024s160", "modp2048s224", "modp2048s256"] {
            table[keyword] = .unsupported(reason: "weak or of questionable origin; not implemented by Tern")
        }
        for keyword in ["modp6144", "modp8192", "ecp192", "ecp224", "ecp224bp", "ecp256bp", "ecp384bp", "ecp512bp",
                        "curve448", "x448", "ntru112", "ntru128", "ntru192", "ntru256", "newhope128"] {
            table[keyword] = notImplemented
        }

        // Extended sequence numbers.
        table["esn"] = .esn(true)
        table["noesn"] = .esn(false)
        return table
    }()
}
