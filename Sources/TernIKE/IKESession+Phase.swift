import TernCrypto
import TernWire

// An IKE SA's phase carries the data that exists only in it (swift-nio-ssh's state machine is
// the model): our KE and nonce while IKE_SA_INIT is out, both nonces, SK_p and both IKE_SA_INIT
// messages while IKE_AUTH runs, and only the algorithms, SK_d and the SK protections once the
// SA is up. A transition builds the next phase from the previous one, so "established without
// keys" or "a nonce kept after IKE_AUTH" cannot be written.
//
//   created (responder) ──(IKE_SA_INIT answered)──────────────┐
//   created ─► initiating ──(IKE_SA_INIT response, keys)──► authenticating ──(IKE_AUTH)──► established
//   established ⇄ rekeying (our IKE rekey) ─► rekeyed (successor took the CHILD SAs) ─► dead
//   established/rekeying ─► deleting ─► dead;   any phase ─► dead

/// The keys of an IKE SA as every phase after IKE_SA_INIT holds them: the negotiated
/// algorithms (with their PRF and key exchange method, which an IKE SA always has), SK_d for
/// CHILD SA keys and IKE rekeys, and the SK protections (SK_e/SK_a live inside them).
struct IKESAKeying {
    let algorithms: NegotiatedAlgorithms
    let prf: PRFAlgorithm
    let keyExchange: KeyExchangeGroup
    let skD: [UInt8]
    let outbound: IKEPayloadProtection
    let inbound: IKEPayloadProtection

    /// Nil when `algorithms` lack a PRF or key exchange method (not an IKE SA's algorithms).
    init?(algorithms a: NegotiatedAlgorithms, keys k: IKESAKeys, isInitiator: Bool) {
        guard let prf = a.prf, let ke = a.keyExchange else { return nil }
        do {
            let i = try IKEPayloadProtection(encryption: a.encryption, integrity: a.integrity, encryptionKey: k.skEi, integrityKey: k.skAi)
            let r = try IKEPayloadProtection(encryption: a.encryption, integrity: a.integrity, encryptionKey: k.skEr, integrityKey: k.skAr)
            (outbound, inbound) = isInitiator ? (i, r) : (r, i)
        } catch {
            // Key lengths come from our own derivation; a failure here is a programming error.
            preconditionFailure("IKE SA protection: \(error)")
        }
        algorithms = a; self.prf = prf; keyExchange = ke; skD = k.skD
    }
}

/// The initiator's IKE_SA_INIT in flight: restarted with a cookie or another group, it keeps
/// its nonce (RFC 7296 §2.6, §1.3.1).
struct InitPhase {
    var keyExchange: KeyExchange
    var nonce: [UInt8]
    var cookie: [UInt8]?
    var retriedGroups: Set<UInt16>
    /// Our IKE_SA_INIT request, signed in our AUTH.
    var request: [UInt8]
}

/// IKE_AUTH: what AUTH is computed over (RFC 7296 §2.15) and what the peer told us about the
/// signatures and certificates it accepts.
struct AuthPhase {
    var keys: IKESAKeying
    var skPi: [UInt8]
    var skPr: [UInt8]
    var nonceI: [UInt8]
    var nonceR: [UInt8]
    var initRequest: [UInt8]
    var initResponse: [UInt8]
    /// Signature hashes and CERTREQ seen in IKE_SA_INIT and IKE_AUTH.
    var peerAuth: PeerAuthCapabilities
    /// How the peer proved its identity, for the log line once it did.
    var peerAuthenticatedWith = "pre-shared key"
}

/// An IKE SA that is up (or being rekeyed, replaced or deleted): its keys and nothing more.
struct EstablishedPhase {
    var keys: IKESAKeying
}

enum IKEPhase {
    /// Just created: a responder's while its first IKE_SA_INIT request is answered (never
    /// stored in the endpoint so), an initiator's until its IKE_SA_INIT goes out.
    case created
    indirect case initiating(InitPhase)
    indirect case authenticating(AuthPhase)
    case established(EstablishedPhase)
    /// We rekey this IKE SA (CREATE_CHILD_SA outstanding).
    case rekeying(EstablishedPhase)
    /// Replaced by a new IKE SA, waiting for the delete.
    case rekeyed(EstablishedPhase)
    case deleting(EstablishedPhase)
    /// Gone; keeps the algorithms it had, for the last report of it.
    case dead(NegotiatedAlgorithms?)

    var state: IKESession.State {
        switch self {
        case .created, .initiating, .authenticating: .connecting
        case .established: .established
        case .rekeying: .rekeying
        case .rekeyed: .rekeyed
        case .deleting: .deleting
        case .dead: .dead
        }
    }

    /// The keys of every phase after IKE_SA_INIT.
    var keys: IKESAKeying? {
        switch self {
        case .created, .initiating, .dead: nil
        case .authenticating(let a): a.keys
        case .established(let e), .rekeying(let e), .rekeyed(let e), .deleting(let e): e.keys
        }
    }

    /// The phase after IKE_AUTH, with its keys (nil before).
    var established: EstablishedPhase? {
        switch self {
        case .established(let e), .rekeying(let e), .rekeyed(let e), .deleting(let e): e
        default: nil
        }
    }

    var algorithms: NegotiatedAlgorithms? {
        if case .dead(let a) = self { return a }
        return keys?.algorithms
    }
}
