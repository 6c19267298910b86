import Testing
@testable import TernCrypto

/// strongSwan proposal strings, the default proposals, and the transform wire IDs and names.
@Suite struct IKEProposalTests {
    private func parse(_ text: String, _ proto: ProposalProtocol) throws -> [AlgorithmProposal] {
        try ProposalParser.parse(text, for: proto)
    }

    private func one(_ text: String, _ proto: ProposalProtocol) throws -> AlgorithmProposal {
        let proposals = try parse(text, proto)
        try #require(proposals.count == 1)
        return proposals[0]
    }

    /// The error message for `text`, or nil if it parsed.
    private func error(_ text: String, _ proto: ProposalProtocol) -> String? {
        do {
            _ = try ProposalParser.parse(text, for: proto)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func ikeAEADWithExplicitPRF() throws {
        let proposal = try one("aes256gcm16-prfsha256-x25519", .ike)
        #expect(proposal == AlgorithmProposal(proposalProtocol: .ike, encryption: [.aesGCM16(keyBits: 256)],
                                              prf: [.hmacSHA256], keyExchange: [.curve25519]))
        #expect(proposal.isAEAD)
        #expect(proposal.description == "IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519")
    }

    /// No PRF keyword: strongSwan derives one from each integrity algorithm.
    @Test func ikeClassicDerivesPRFFromIntegrity() throws {
        let proposal = try one("aes256-sha256-modp2048", .ike)
        #expect(proposal == AlgorithmProposal(proposalProtocol: .ike, encryption: [.aesCBC(keyBits: 256)], integrity: [.hmacSHA256_128],
                                              prf: [.hmacSHA256], keyExchange: [.modp2048]))
        #expect(!proposal.isAEAD)
        #expect(proposal.description == "IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048")
        let several = try one("aes128-sha1-sha384-ecp256", .ike)
        #expect(several.prf == [.hmacSHA1, .hmacSHA384])
        // An explicit PRF wins over derivation.
        #expect(try one("aes128-sha256-prfsha512-ecp256", .ike).prf == [.hmacSHA512])
    }

    @Test func severalAlgorithmsPerTypeKeepTheirOrder() throws {
        let proposal = try one("aes128gcm16-aes256gcm16-prfsha384-ecp256-x25519", .ike)
        #expect(proposal.encryption == [.aesGCM16(keyBits: 128), .aesGCM16(keyBits: 256)])
        #expect(proposal.prf == [.hmacSHA384])
        #expect(proposal.keyExchange == [.ecp256, .curve25519])
        #expect(proposal.integrity.isEmpty)
    }

    /// gcm128 = 16-octet ICV. An INTEG keyword in an all-AEAD proposal is dropped, but for IKE
    /// without a PRF keyword it still supplies the PRF first (strongSwan's check_proposal order).
    @Test func integrityInAnAEADProposal() throws {
        let ike = try one("aes256gcm128-sha256-modp2048", .ike)
        #expect(ike == AlgorithmProposal(proposalProtocol: .ike, encryption: [.aesGCM16(keyBits: 256)],
                                         prf: [.hmacSHA256], keyExchange: [.modp2048]))
        let esp = try one("aes256gcm128-sha256-modp2048", .esp)
        #expect(esp == AlgorithmProposal(proposalProtocol: .esp, encryption: [.aesGCM16(keyBits: 256)],
                                         keyExchange: [.modp2048], extendedSequenceNumbers: [false]))
        #expect(try one("aes128gcm-x25519-prfsha256", .ike).encryption == [.aesGCM16(keyBits: 128)])
    }

    @Test func chachaWithCurve25519() throws {
        let proposal = try one("chacha20poly1305-prfsha256-curve25519", .ike)
        #expect(proposal.encryption == [.chacha20Poly1305] && proposal.keyExchange == [.curve25519])
        #expect(proposal.description == "IKE:CHACHA20_POLY1305/PRF_HMAC_SHA2_256/CURVE_25519")
    }

    @Test func espExtendedSequenceNumbers() throws {
        let esn = try one("aes256-sha256-esn", .esp)
        #expect(esn == AlgorithmProposal(proposalProtocol: .esp, encryption: [.aesCBC(keyBits: 256)],
                                         integrity: [.hmacSHA256_128], extendedSequenceNumbers: [true]))
        #expect(esn.description == "ESP:AES_CBC_256/HMAC_SHA2_256_128/EXT_SEQ")
        #expect(try one("aes256-sha256", .esp).extendedSequenceNumbers == [false])
        #expect(try one("aes256-sha256-noesn", .esp).extendedSequenceNumbers == [false])
        #expect(try one("aes256-sha256-esn-noesn", .esp).extendedSequenceNumbers == [true, false])
        #expect(try one("aes256-sha256-noesn-esn", .esp).extendedSequenceNumbers == [false, true])
        // PRFs are dropped from ESP; KE keywords are PFS groups; "none" alone means no PFS.
        let pfs = try one("aes128gcm16-prfsha256-ecp384", .esp)
        #expect(pfs.prf.isEmpty && pfs.keyExchange == [.ecp384] && pfs.integrity.isEmpty)
        #expect(try one("aes128gcm16-none", .esp).keyExchange.isEmpty)
        #expect(try one("aes256gmac", .esp).encryption == [.aesGMAC(keyBits: 256)])
        #expect(try one("null-sha256", .esp).encryption == [.null])
    }

    @Test func ah() throws {
        let proposal = try one("sha256-sha1-esn", .ah)
        #expect(proposal == AlgorithmProposal(proposalProtocol: .ah, integrity: [.hmacSHA256_128, .hmacSHA1_96],
                                              extendedSequenceNumbers: [true]))
        // strongSwan drops encryption from AH proposals.
        #expect(try one("aes256-sha512", .ah).encryption.isEmpty)
        #expect(error("aes256", .ah) == "AH proposal 'aes256' lacks an integrity algorithm")
        #expect(error("aes128gmac-sha256", .ah)?.contains("GMAC") == true)
    }

    @Test func strongSwanLongFormsAndAliases() throws {
        #expect(try one("aes-sha2_256-sha2_384-sha2_512-sha-modp3072", .ike).integrity
            == [.hmacSHA256_128, .hmacSHA384_192, .hmacSHA512_256, .hmacSHA1_96])
        #expect(try one("aes-sha1-modp4096", .ike).encryption == [.aesCBC(keyBits: 128)])
        #expect(try one("aes192-sha1-prfsha1-ecp521", .ike).encryption == [.aesCBC(keyBits: 192)])
        #expect(try one(" aes256 - sha256 - x25519 ", .ike).keyExchange == [.curve25519])
        // Repeats count once.
        #expect(try one("aes256-aes256-sha256-sha256-x25519-x25519", .ike)
            == (try one("aes256-sha256-x25519", .ike)))
    }

    /// Mixed AEAD and classic encryption: strongSwan 5.9.8 refuses (no splitting).
    @Test func mixingAEADAndClassicIsRefused() {
        let message = error("aes256-aes256gcm16-sha256-x25519", .ike)
        #expect(message == "IKE proposal 'aes256-aes256gcm16-sha256-x25519' mixes classic and combined-mode (AEAD) encryption algorithms; write them as separate proposals")
        #expect(error("aes128gcm16-aes128-sha256", .esp) != nil)
    }

    @Test func commaListsAndParseList() throws {
        let proposals = try parse("aes256gcm16-prfsha256-x25519, aes256-sha256-modp2048", .ike)
        #expect(proposals.map(\.isAEAD) == [true, false])
        let list = try ProposalParser.parse(list: ["aes256gcm16-prfsha256-x25519", "aes256-sha256-modp2048"], for: .ike)
        #expect(list == proposals)
        #expect(error("aes256-sha256-x25519,", .ike) != nil)
        #expect(try ProposalParser.parse(list: [], for: .esp).isEmpty)
    }

    @Test func errorsNameTheToken() {
        #expect(error("aes999-sha256", .ike) == "unknown algorithm 'aes999' in 'aes999-sha256'")
        #expect(error("aes256-sha256", .ike) == "IKE proposal 'aes256-sha256' lacks a key exchange method")
        #expect(error("aes256-sha256-none", .ike) == "IKE proposal 'aes256-sha256-none' lacks a key exchange method")
        #expect(error("aes256gcm16-x25519", .ike)?.contains("lacks a PRF") == true)
        #expect(error("aes256-x25519", .ike)?.contains("lacks") == true)
        #expect(error("aes256-prfsha256-x25519", .ike)?.contains("lacks an integrity algorithm") == true)
        #expect(error("aes256", .esp)?.contains("lacks an integrity algorithm") == true)
        #expect(error("sha256-prfsha256-x25519", .ike)?.contains("lacks an encryption algorithm") == true)
        #expect(error("null-sha256-x25519", .ike)?.contains("no confidentiality") == true)
        #expect(error("aes256gmac-prfsha256-x25519", .ike)?.contains("no confidentiality") == true)
        #expect(error("aes256-sha256--x25519", .ike) == "empty algorithm in 'aes256-sha256--x25519'")
        #expect(error("", .ike) != nil)
        #expect(error("AES256-SHA256-X25519", .ike) == "unknown algorithm 'AES256' in 'AES256-SHA256-X25519'")
        #expect(error("aes128gcm16-ecp256-none", .esp)?.contains("optional PFS") == true)
        for token in ["3des", "md5", "modp1024", "x448", "aes128gcm8", "aes256gcm12", "aes256gcm96", "aes128ccm16",
                      "chacha20poly1305compat", "camellia256", "aesxcbc", "prfaesxcbc", "modp8192", "ecp256bp"] {
            let text = "\(token)-aes256-sha256-prfsha256-x25519"
            #expect(error(text, .ike)?.hasPrefix("unsupported algorithm '\(token)' in '\(text)'") == true, "\(token)")
        }
        #expect(error("aes128gcm8-prfsha256-x25519", .ike)?.contains("16-octet ICV") == true)
    }

    // MARK: Defaults

    @Test func defaultKeyword() throws {
        let ike = try parse("default", .ike)
        #expect(ike.map(\.isAEAD) == [false, true])
        #expect(ike[0].description == "IKE:AES_CBC_128/AES_CBC_192/AES_CBC_256/HMAC_SHA2_256_128/HMAC_SHA2_384_192/HMAC_SHA2_512_256/HMAC_SHA1_96/PRF_HMAC_SHA2_256/PRF_HMAC_SHA2_384/PRF_HMAC_SHA2_512/PRF_HMAC_SHA1/ECP_256/ECP_384/ECP_521/CURVE_25519/MODP_3072/MODP_4096/MODP_2048")
        #expect(ike[1].description == "IKE:AES_GCM_16_128/AES_GCM_16_192/AES_GCM_16_256/CHACHA20_POLY1305/PRF_HMAC_SHA2_256/PRF_HMAC_SHA2_384/PRF_HMAC_SHA2_512/PRF_HMAC_SHA1/ECP_256/ECP_384/ECP_521/CURVE_25519/MODP_3072/MODP_4096/MODP_2048")
        let esp = try parse("DEFAULT", .esp)
        #expect(esp.map(\.description) == [
            "ESP:AES_CBC_128/AES_CBC_192/AES_CBC_256/HMAC_SHA2_256_128/HMAC_SHA2_384_192/HMAC_SHA2_512_256/HMAC_SHA1_96/NO_EXT_SEQ",
            "ESP:AES_GCM_16_128/AES_GCM_16_192/AES_GCM_16_256/NO_EXT_SEQ",
        ])
        #expect(try parse("default", .ah).map(\.description) == ["AH:HMAC_SHA2_256_128/HMAC_SHA2_384_192/HMAC_SHA2_512_256/HMAC_SHA1_96/NO_EXT_SEQ"])
        // "default" mixes with explicit proposals.
        #expect(try parse("aes256gcm16-prfsha256-x25519, default", .ike).count == 3)
    }

    /// Nothing configured: IKE classic then AEAD; ESP AEAD first (vici_config.c).
    @Test func defaultsWhenNothingIsConfigured() {
        #expect(ProposalParser.defaults(for: .ike).map(\.isAEAD) == [false, true])
        #expect(ProposalParser.defaults(for: .esp).map(\.isAEAD) == [true, false])
        #expect(ProposalParser.defaults(for: .ah).count == 1)
        // Every default is itself a valid proposal of its protocol and uses only what Tern implements.
        for proto in [ProposalProtocol.ike, .esp, .ah] {
            for proposal in ProposalParser.defaults(for: proto) {
                #expect(proposal.proposalProtocol == proto)
                #expect(proposal.isAEAD ? proposal.integrity.isEmpty : (!proposal.integrity.isEmpty))
                #expect(proto == .ike ? !proposal.prf.isEmpty && !proposal.keyExchange.isEmpty : proposal.prf.isEmpty)
            }
        }
    }

    // MARK: Wire IDs and names

    @Test func encryptionWireIDsRoundTrip() {
        for algorithm in allEncryptionAlgorithms {
            #expect(EncryptionAlgorithm(ikeTransformID: algorithm.ikeTransformID, keyLength: algorithm.ikeKeyLengthAttribute) == algorithm)
        }
        #expect(EncryptionAlgorithm(ikeTransformID: 12, keyLength: 256) == .aesCBC(keyBits: 256))
        #expect(EncryptionAlgorithm(ikeTransformID: 20, keyLength: 128) == .aesGCM16(keyBits: 128))
        #expect(EncryptionAlgorithm(ikeTransformID: 28, keyLength: nil) == .chacha20Poly1305)
        #expect(EncryptionAlgorithm(ikeTransformID: 21, keyLength: 192) == .aesGMAC(keyBits: 192))
        // Missing, unexpected or unsupported key lengths; unsupported IDs (3DES, AES-CTR, GCM-8, GCM-12).
        for (id, length) in [(12, nil), (12, 64), (20, nil), (20, 512), (21, nil), (28, 256), (11, 128), (3, nil), (13, 128), (18, 128), (19, 128)] as [(UInt16, UInt16?)] {
            #expect(EncryptionAlgorithm(ikeTransformID: id, keyLength: length) == nil, "\(id) \(String(describing: length))")
        }
        #expect(EncryptionAlgorithm.chacha20Poly1305.ikeKeyLengthAttribute == nil)
        #expect(EncryptionAlgorithm.aesGCM16(keyBits: 192).keySizeBits == 192)
    }

    @Test func integrityWireIDsRoundTrip() {
        for algorithm in allIntegrityAlgorithms {
            #expect(IntegrityAlgorithm(ikeTransformID: algorithm.ikeTransformID) == algorithm)
        }
        for id: UInt16 in [1, 5, 8, 9, 10, 11, 15, 99] { #expect(IntegrityAlgorithm(ikeTransformID: id) == nil) }
    }

    @Test func strongSwanNames() {
        #expect(allEncryptionAlgorithms.map(\.strongSwanName) == [
            "NULL", "AES_CBC", "AES_CBC", "AES_CBC", "AES_GCM_16", "AES_GCM_16", "AES_GCM_16", "CHACHA20_POLY1305",
            "NULL_AES_GMAC", "NULL_AES_GMAC", "NULL_AES_GMAC",
        ])
        #expect(allIntegrityAlgorithms.map(\.strongSwanName) == ["NONE", "HMAC_SHA1_96", "HMAC_SHA2_256_128", "HMAC_SHA2_384_192", "HMAC_SHA2_512_256"])
    }
}
