/// strongSwan's proposal syntax (swanctl.conf `proposals`, `esp_proposals`, `ah_proposals`),
/// modelled on strongSwan 5.9.8 (`src/libstrongswan/crypto/proposal/proposal.c`:
/// `proposal_create_from_string` and `check_proposal`; the keywords of
/// `proposal_keywords_static.txt`; `proposal_create_default`/`_default_aead`; and
/// `parse_proposal` in `src/libcharon/plugins/vici/vici_config.c` for "default").
///
/// What strongSwan does, and therefore what this does:
/// - A proposal is keywords joined by '-' (spaces around them ignored), case-sensitive; the
///   whole string "default" (any case) stands for the default proposals.
/// - IKE without a PRF keyword: one PRF per integrity algorithm (sha256 → prfsha256, ...),
///   in the integrity algorithms' order. This happens before the AEAD rule below, so
///   "aes256gcm16-sha256-x25519" gets PRF_HMAC_SHA2_256 and no integrity algorithm.
///   No PRF at all (e.g. "aes256gcm16-x25519") is an error.
/// - "none"/"modpnone" (no key exchange) is dropped from IKE proposals; IKE then needs a
///   key exchange method.
/// - ESP and AH drop PRF keywords silently; their KE keywords are the PFS groups.
/// - If all encryption algorithms are AEAD, integrity algorithms are dropped silently
///   ("aes256gcm128-sha256-modp2048" is AES_GCM_16_256 with no INTEG for ESP; for IKE the
///   sha256 still supplied the PRF). Mixing AEAD and classic encryption in one proposal is
///   refused, not split: write them as two proposals separated by a comma.
/// - IKE with classic encryption needs an integrity algorithm.
/// - AH drops encryption keywords silently, except AES-GMAC which strongSwan turns into the
///   AUTH_AES_*_GMAC integrity algorithm (unsupported here: an error).
/// - ESP/AH without "esn"/"noesn" get NO_EXT_SEQ.
///
/// Where Tern is stricter than strongSwan (each an error naming the reason): algorithms Tern
/// does not implement (3des, md5, modp1024, x448, aes128gcm8, ...); ESP with classic
/// encryption but no integrity algorithm (strongSwan accepts it, Tern's data plane refuses
/// ESP without integrity); NULL or AES-GMAC encryption in IKE (no confidentiality);
/// "none" next to PFS groups in ESP/AH (strongSwan's "PFS optional", not modelled).
/// Where it is more lenient: "esn"/"noesn" in an IKE proposal are ignored (strongSwan would
/// put an ESN transform into the IKE proposal); a repeated keyword counts once.
public enum ProposalParser {
    /// Parses a proposal string, such as "aes256gcm16-prfsha256-x25519", or several separated
    /// by commas. "default" yields the default proposals strongSwan's keyword gives: the
    /// classic one, then the AEAD one (AH: classic only).
    public static func parse(_ text: String, for proto: ProposalProtocol) throws(ProposalError) -> [AlgorithmProposal] {
        var proposals: [AlgorithmProposal] = []
        for piece in text.split(separator: ",", omittingEmptySubsequences: false) {
            let trimmed = piece.trimmingSpaces
            guard !trimmed.isEmpty else {
                throw ProposalError("empty proposal in '\(text)'")
            }
            if trimmed.lowercased() == "default" {
                proposals += defaultKeyword(for: proto)
            } else {
                proposals.append(try parseOne(trimmed, for: proto))
            }
        }
        return proposals
    }

    /// A list of proposal strings, each parsed and concatenated in order, as in swanctl.conf
    /// `proposals = a, b`.
    public static func parse(list: [String], for proto: ProposalProtocol) throws(ProposalError) -> [AlgorithmProposal] {
        var proposals: [AlgorithmProposal] = []
        for text in list { proposals += try parse(text, for: proto) }
        return proposals
    }

    /// What strongSwan 5.9.8 uses when no proposals are configured (vici_config.c), limited to
    /// the algorithms Tern implements: IKE the classic proposal then the AEAD one; ESP the AEAD
    /// one (AES-GCM-16) then the classic one; AH the classic one.
    public static func defaults(for proto: ProposalProtocol) -> [AlgorithmProposal] {
        switch proto {
        case .ike: [DefaultProposals.ikeClassic, DefaultProposals.ikeAEAD]
        case .esp: [DefaultProposals.espAEAD, DefaultProposals.espClassic]
        case .ah: [DefaultProposals.ah]
        }
    }

    /// The "default" keyword (vici_config.c `parse_proposal`): classic first, then AEAD.
    static func defaultKeyword(for proto: ProposalProtocol) -> [AlgorithmProposal] {
        switch proto {
        case .ike: [DefaultProposals.ikeClassic, DefaultProposals.ikeAEAD]
        case .esp: [DefaultProposals.espClassic, DefaultProposals.espAEAD]
        case .ah: [DefaultProposals.ah]
        }
    }

    // MARK: - One proposal (proposal_create_from_string + check_proposal)

    private static func parseOne(_ text: String, for proto: ProposalProtocol) throws(ProposalError) -> AlgorithmProposal {
        var encryption: [EncryptionAlgorithm] = []
        var integrity: [IntegrityAlgorithm] = []
        var prf: [PRFAlgorithm] = []
        var keyExchange: [KeyExchangeGroup] = []
        var noKeyExchange = false
        var esn: [Bool] = []
        let name = proto.strongSwanName

        for piece in text.split(separator: "-", omittingEmptySubsequences: false) {
            let token = piece.trimmingSpaces
            guard !token.isEmpty else { throw ProposalError("empty algorithm in '\(text)'") }
            guard let keyword = ProposalKeywords.table[token] else {
                throw ProposalError("unknown algorithm '\(token)' in '\(text)'")
            }
            switch keyword {
            case .encryption(let algorithm): encryption.appendOnce(algorithm)
            case .integrity(let algorithm): integrity.appendOnce(algorithm)
            case .prf(let algorithm): prf.appendOnce(algorithm)
            case .keyExchange(let group): keyExchange.appendOnce(group)
            case .noKeyExchange: noKeyExchange = true
            case .esn(let value): esn.appendOnce(value)
            case .unsupported(let reason):
                throw ProposalError("unsupported algorithm '\(token)' in '\(text)': \(reason)")
            }
        }

        switch proto {
        case .ike:
            if prf.isEmpty {
                for algorithm in integrity {
                    if let derived = derivedPRF(algorithm) { prf.appendOnce(derived) }
                }
            }
            guard !prf.isEmpty else {
                throw ProposalError("IKE proposal '\(text)' lacks a PRF (add one such as prfsha256; AEAD proposals need it explicitly)")
            }
            guard !keyExchange.isEmpty else {
                throw ProposalError("IKE proposal '\(text)' lacks a key exchange method")
            }
            esn = []
        case .esp, .ah:
            prf = []
            if noKeyExchange && !keyExchange.isEmpty {
                throw ProposalError("unsupported '\(text)': 'none' next to key exchange methods (optional PFS) is not supported; leave the methods out for no PFS")
            }
            if esn.isEmpty { esn = [false] }
        }

        switch proto {
        case .ike, .esp:
            guard !encryption.isEmpty else {
                throw ProposalError("\(name) proposal '\(text)' lacks an encryption algorithm")
            }
            let aeadCount = encryption.filter(\.isCombinedMode).count
            if aeadCount == encryption.count {
                integrity = []  // strongSwan: AEAD proposals MUST NOT carry INTEG transforms
            } else if aeadCount > 0 {
                throw ProposalError("\(name) proposal '\(text)' mixes classic and combined-mode (AEAD) encryption algorithms; write them as separate proposals")
            } else if integrity.isEmpty {
                throw ProposalError("\(name) proposal '\(text)' has classic encryption but lacks an integrity algorithm")
            }
            if proto == .ike, let weak = encryption.first(where: { !$0.providesConfidentiality }) {
                throw ProposalError("IKE proposal '\(text)': \(weak.strongSwanName) provides no confidentiality and cannot protect IKE")
            }
        case .ah:
            if encryption.contains(where: { if case .aesGMAC = $0 { true } else { false } }) {
                throw ProposalError("unsupported AH proposal '\(text)': AES-GMAC as an AH integrity algorithm is not supported")
            }
            encryption = []  // strongSwan drops the other encryption algorithms from AH proposals
            guard !integrity.isEmpty else {
                throw ProposalError("AH proposal '\(text)' lacks an integrity algorithm")
            }
        }

        return AlgorithmProposal(proposalProtocol: proto, encryption: encryption, integrity: integrity,
                                 prf: prf, keyExchange: keyExchange, extendedSequenceNumbers: esn)
    }

    /// strongSwan's `integ_prf_map`, for the algorithms Tern has.
    private static func derivedPRF(_ integrity: IntegrityAlgorithm) -> PRFAlgorithm? {
        switch integrity {
        case .hmacSHA1_96: .hmacSHA1
        case .hmacSHA256_128: .hmacSHA256
        case .hmacSHA384_192: .hmacSHA384
        case .hmacSHA512_256: .hmacSHA512
        case .none: nil
        }
    }
}

/// strongSwan 5.9.8's default proposals (proposal.c `proposal_add_supported_ike` and
/// `proposal_create_default[_aead]`) restricted to Tern's algorithms, in the order a stock
/// build (openssl plugin) lists them: round 1 (≥ 128-bit strength) before weaker rounds.
/// Left out because Tern lacks them: AES-CTR, Camellia, 3DES, AES-XCBC/CMAC, AES-CCM,
/// AES-GCM with 8/12-byte ICVs, Brainpool curves, Curve448, MODP 6144/8192.
enum DefaultProposals {
    static let ikePRFs: [PRFAlgorithm] = [.hmacSHA256, .hmacSHA384, .hmacSHA512, .hmacSHA1]
    static let ikeGroups: [KeyExchangeGroup] = [.ecp256, .ecp384, .ecp521, .curve25519, .modp3072, .modp4096, .modp2048]
    static let classicEncryption: [EncryptionAlgorithm] = [.aesCBC(keyBits: 128), .aesCBC(keyBits: 192), .aesCBC(keyBits: 256)]
    static let classicIntegrity: [IntegrityAlgorithm] = [.hmacSHA256_128, .hmacSHA384_192, .hmacSHA512_256, .hmacSHA1_96]
    static let gcm: [EncryptionAlgorithm] = [.aesGCM16(keyBits: 128), .aesGCM16(keyBits: 192), .aesGCM16(keyBits: 256)]

    static let ikeClassic = AlgorithmProposal(proposalProtocol: .ike, encryption: classicEncryption,
                                              integrity: classicIntegrity, prf: ikePRFs, keyExchange: ikeGroups)
    static let ikeAEAD = AlgorithmProposal(proposalProtocol: .ike, encryption: gcm + [.chacha20Poly1305],
                                           prf: ikePRFs, keyExchange: ikeGroups)
    static let espClassic = AlgorithmProposal(proposalProtocol: .esp, encryption: classicEncryption,
                                              integrity: classicIntegrity, extendedSequenceNumbers: [false])
    static let espAEAD = AlgorithmProposal(proposalProtocol: .esp, encryption: gcm, extendedSequenceNumbers: [false])
    static let ah = AlgorithmProposal(proposalProtocol: .ah, integrity: classicIntegrity, extendedSequenceNumbers: [false])
}

extension Array where Element: Equatable {
    /// strongSwan keeps duplicates; a repeated algorithm adds nothing to a proposal, so we don't.
    fileprivate mutating func appendOnce(_ element: Element) {
        if !contains(element) { append(element) }
    }
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
