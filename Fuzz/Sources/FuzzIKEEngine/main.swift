import FuzzSupport
import TernCrypto
import TernDataPlane
import Foundation
import TernIKE
import TernPKI
import TernWire

// The IKE engine's input path under hostile peers. Every input gets a fresh, deterministic
// pair of endpoints with an established IKE SA (seeded randomness), then:
//   byte 0 = 0: the rest is a raw datagram to the responder (IKE_SA_INIT handling, dispatch).
//   byte 0 = 1: the rest is a payload chain (first payload type = byte 1) that is encrypted
//               with the real SK_ei into a valid request (exchange type = byte 2) on the
//               established IKE SA, so every exchange handler sees arbitrary payloads.
//   byte 0 = 2: as 1, but sent as a response to the responder's own pending request.
//   byte 0 = 3: as 1, but as the IKE_AUTH request on a half-open SA whose responder wants a
//               certificate (auth = pubkey), so CERT, CERTREQ, ID and AUTH parsing and the
//               certificate checks see arbitrary bytes.
// Must never crash or hang; afterwards the responder must still answer a liveness check.

let a = SocketAddress(IPAddress("192.0.2.1")!, 500), b = SocketAddress(IPAddress("192.0.2.2")!, 500)

/// A CA for the certificate-authenticating responder. Made per input: held in static storage,
/// its enum-packed references hide from the leak checker, which then reports them.
func fuzzCA() -> CredentialSet {
    let key = try! PrivateKeyBundle.generate(.ed25519)
    var profile = CertificateProfile(subject: try! DNString.parse("CN=Fuzz CA"), now: Date(timeIntervalSince1970: 1_800_000_000))
    profile.isCA = true
    return CredentialSet(authorities: [try! CertificateIssuer.selfSigned(key: key, profile: profile)])
}

func configuration(local: SocketAddress, remote: SocketAddress, certificates: Bool = false) -> EngineConfiguration {
    let child = ChildPolicy(name: "net", localSelectors: [.dynamic], remoteSelectors: [.dynamic],
                            proposals: try! ProposalParser.parse("aes128gcm16", for: .esp))
    var c = ConnectionPolicy(name: "c", localAddresses: [.address(local.address)], remoteAddresses: [.address(remote.address)],
                             proposals: try! ProposalParser.parse("aes128gcm16-prfsha256-x25519", for: .ike), children: [child])
    c.fragmentSize = 512
    var e = EngineConfiguration(connections: [c], sharedKeys: [SharedKey(owners: [], secret: Array("fuzz".utf8))])
    if certificates {
        c.remoteAuth = .pubkey
        c.certificates.revocation = .ifuri
        e.connections = [c]
        e.credentials = fuzzCA()
    }
    return e
}

/// IKE_SA_INIT only: the responder waits for IKE_AUTH, the initiator's keys are known.
func halfOpen() -> Established {
    let ia = IKEEndpoint(configuration: configuration(local: a, remote: b), random: .seeded(7), keyLogEnabled: true)
    let rb = IKEEndpoint(configuration: configuration(local: b, remote: a, certificates: true), random: .seeded(8), keyLogEnabled: false)
    rb.calendarTime = Date(timeIntervalSince1970: 1_800_000_100)
    var keys: IKEKeyLogEntry?
    guard case .send(let request, let f, let t)? = try! ia.initiate(connection: "c", child: "net", now: 0).first else { fatalError("no IKE_SA_INIT") }
    for act in rb.handle(datagram: request, from: f, to: t, now: 0.1) {
        guard case .send(let response, let rf, let rt) = act else { continue }
        for a in ia.handle(datagram: response, from: rf, to: rt, now: 0.1) { if case .keyLog(let k) = a { keys = k } }
    }
    return Established(initiator: ia, responder: rb, keys: keys!)
}

struct Established {
    let initiator: IKEEndpoint
    let responder: IKEEndpoint
    let keys: IKEKeyLogEntry
    var now: MonotonicInstant = 1

    /// The same pair, independent of this one (IKEEndpoint.copy()): every input starts from it.
    func copied() -> Established { Established(initiator: initiator.copy(), responder: responder.copy(), keys: keys, now: now) }
}

func establish() -> Established {
    let ia = IKEEndpoint(configuration: configuration(local: a, remote: b), random: .seeded(7), keyLogEnabled: true)
    let rb = IKEEndpoint(configuration: configuration(local: b, remote: a), random: .seeded(8), keyLogEnabled: false)
    var queue: [(to: IKEEndpoint, bytes: [UInt8], from: SocketAddress, dest: SocketAddress)] = []
    var keys: IKEKeyLogEntry?
    func take(_ acts: [IKEAction], from e: IKEEndpoint) {
        for act in acts {
            if case .send(let d, let f, let t) = act { queue.append((e === ia ? rb : ia, d, f, t)) }
            if case .keyLog(let k) = act { keys = k }
        }
    }
    take(try! ia.initiate(connection: "c", child: "net", now: 0), from: ia)
    while !queue.isEmpty {
        let m = queue.removeFirst()
        take(m.to.handle(datagram: m.bytes, from: m.from, to: m.dest, now: 0.1), from: m.to)
    }
    return Established(initiator: ia, responder: rb, keys: keys!)
}

nonisolated(unsafe) let storedEstablished = establish()
nonisolated(unsafe) let storedHalfOpen = halfOpen()
/// The SK protections of the stored pairs' keys, built once (they keep no per-message state).
func protection(_ k: IKEKeyLogEntry, responder: Bool) -> IKEPayloadProtection {
    try! IKEPayloadProtection(encryption: k.encryption, integrity: k.integrity, encryptionKey: responder ? k.skEr : k.skEi, integrityKey: [])
}
let establishedI = protection(storedEstablished.keys, responder: false), establishedR = protection(storedEstablished.keys, responder: true)
let halfOpenI = protection(storedHalfOpen.keys, responder: false), halfOpenR = protection(storedHalfOpen.keys, responder: true)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let mode = input.first else { return 0 }
    let authMode = mode % 4 == 3
    // Negotiating a pair per input made each one cost a key exchange (115 inputs/s): the pairs
    // are negotiated once and copied.
    let e = authMode ? storedHalfOpen.copied() : storedEstablished.copied()
    guard let sa = e.responder.listSAs(now: 1).first else { fatalError("FuzzIKEEngine: the pair did not establish") }
    let peer = SocketAddress(sa.remote.address, sa.remote.port), local = SocketAddress(sa.local.address, sa.local.port)
    switch mode % 4 {
    case 0:
        _ = e.responder.handle(datagram: Array(input.dropFirst()), from: peer, to: local, now: 1)
    default:
        guard input.count >= 3 else { return 0 }
        let inner = Array(input.dropFirst(3))
        let protection = mode % 4 == 2 ? (authMode ? halfOpenR : establishedR) : (authMode ? halfOpenI : establishedI)
        let isResponse = mode % 4 == 2
        var flags: IKEHeaderFlags = [.initiator]
        if isResponse { flags.insert(.response) }
        let exchange = authMode ? IKEExchangeType.ikeAuth.rawValue
            : [IKEExchangeType.createChildSA, .informational, .ikeAuth][Int(input[2]) % 3].rawValue
        let header = IKEHeader(initiatorSPI: sa.initiatorSPI, responderSPI: sa.responderSPI, exchangeType: exchange,
                               flags: flags, messageID: authMode ? 1 : isResponse ? 0 : 2)
        let body = [UInt8](repeating: 0, count: protection.bodyLength(plaintextLength: inner.count))
        var bytes = IKEMessage(header: header, payloads: [.encrypted(firstInnerPayload: input[1], body: body)]).encode()
        let sealed = protection.seal(plaintext: inner, aad: Array(bytes[0..<32]), iv: [UInt8](repeating: 1, count: protection.ivLength))
        bytes.replaceSubrange(32..<bytes.count, with: sealed)
        _ = e.responder.handle(datagram: bytes, from: peer, to: local, now: 1)
    }
    // The engine still runs its timers without trapping.
    _ = e.responder.handleTimeout(now: 100)
    _ = e.responder.handleTimeout(now: 10_000)
    return 0
}

runFuzzer(fuzzOne)
