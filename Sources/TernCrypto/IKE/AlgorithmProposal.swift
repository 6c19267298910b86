/// The security protocol a proposal is for (RFC 7296 §3.3.1 Protocol ID).
public enum ProposalProtocol: Sendable, Hashable {
    case ike, esp, ah

    /// The name strongSwan prints in front of a proposal ("IKE", "ESP", "AH").
    public var strongSwanName: String {
        switch self {
        case .ike: "IKE"
        case .esp: "ESP"
        case .ah: "AH"
        }
    }
}

/// One configured proposal: for each transform type, the acceptable algorithms in order of
/// preference (RFC 7296 §3.3: the peer picks one of each type). This is the configuration
/// side; the IKE engine turns it into SA payload transforms and matches received ones.
public struct AlgorithmProposal: Sendable, Hashable, CustomStringConvertible {
    public var proposalProtocol: ProposalProtocol
    /// ENCR transforms; empty for AH. All combined-mode (AEAD) or none are.
    public var encryption: [EncryptionAlgorithm]
    /// INTEG transforms; empty for AEAD proposals.
    public var integrity: [IntegrityAlgorithm]
    /// PRF transforms; IKE only.
    public var prf: [PRFAlgorithm]
    /// KE transforms. IKE: at least one. ESP/AH: the PFS groups for CREATE_CHILD_SA, empty = no PFS.
    public var keyExchange: [KeyExchangeGroup]
    /// ESN transforms, ESP/AH only: [false] unless "esn" was given ("esn" → [true]; both
    /// keywords → both values, in the order given). Empty for IKE.
    public var extendedSequenceNumbers: [Bool]

    public init(proposalProtocol: ProposalProtocol, encryption: [EncryptionAlgorithm] = [],
                integrity: [IntegrityAlgorithm] = [], prf: [PRFAlgorithm] = [],
                keyExchange: [KeyExchangeGroup] = [], extendedSequenceNumbers: [Bool] = []) {
        self.proposalProtocol = proposalProtocol
        self.encryption = encryption
        self.integrity = integrity
        self.prf = prf
        self.keyExchange = keyExchange
        self.extendedSequenceNumbers = extendedSequenceNumbers
    }

    /// True when every encryption algorithm is a combined mode (and there is at least one).
    public var isAEAD: Bool { !encryption.isEmpty && encryption.allSatisfy(\.isCombinedMode) }

    /// strongSwan's rendering (`%P`, as in `swanctl --list-conns` and its logs):
    /// "IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
    /// "ESP:AES_GCM_16_128/NO_EXT_SEQ". Order: ENCR, INTEG, PRF, KE, ESN.
    public var description: String {
        let names = encryption.map { algorithm in algorithm.keySizeBits.map { "\(algorithm.strongSwanName)_\($0)" } ?? algorithm.strongSwanName }
            + integrity.map(\.strongSwanName)
            + prf.map(\.strongSwanName)
            + keyExchange.map(\.strongSwanName)
            + extendedSequenceNumbers.map { $0 ? "EXT_SEQ" : "NO_EXT_SEQ" }
        return "\(proposalProtocol.strongSwanName):" + names.joined(separator: "/")
    }
}

/// A proposal string that cannot be used, with a message naming the offending token or the
/// missing transform type.
public struct ProposalError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
