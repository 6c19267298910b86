import FuzzSupport
import TernCrypto
import TernDataPlane
import TernIKE
import TernWire

// The IKE engine's input path under hostile peers. Every input gets a fresh, deterministic
// pair of endpoints with an established IKE SA (seeded randomness), then:
//   byte 0 = 0: the rest is a raw datagram to the responder (IKE_SA_INIT handling, dispatch).
//   byte 0 = 1: the rest is a payload chain (first payload type = byte 1) that is encrypted
//               with the real SK_ei into a valid request (exchange type = byte 2) on the
//               established IKE SA, so every exchange handler sees arbitrary payloads.
//   byte 0 = 2: as 1, but sent as a response to the responder's own pending request.
// Must never crash or hang; afterwards the responder must still answer a liveness check.

let a = SocketAddress(IPAddress("192.0.2.1")!, 500), b = SocketAddress(IPAddress("192.0.2.2")!, 500)

func configuration(local: SocketAddress, remote: SocketAddress) -> EngineConfiguration {
    let child = ChildPolicy(name: "net", localSelectors: [.dynamic], remoteSelectors: [.dynamic],
                            proposals: try! ProposalParser.parse("aes128gcm16", for: .esp))
    var c = ConnectionPolicy(name: "c", localAddresses: [.address(local.address)], remoteAddresses: [.address(remote.address)],
                             proposals: try! ProposalParser.parse("aes128gcm16-prfsha256-x25519", for: .ike), children: [child])
    c.fragmentSize = 512
    return EngineConfiguration(connections: [c], sharedKeys: [SharedKey(owners: [], secret: Array("fuzz".utf8))])
}

struct Established {
    let initiator: IKEEndpoint
    let responder: IKEEndpoint
    let keys: IKEKeyLogEntry
    var now = 1.0
}

func establish() -> Established {
    let ia = IKEEndpoint(configuration: configuration(local: a, remote: b), random: .seeded(7), keyLogEnabled: true, sourceAddressFor: { _ in a.address })
    let rb = IKEEndpoint(configuration: configuration(local: b, remote: a), random: .seeded(8), keyLogEnabled: false, sourceAddressFor: { _ in b.address })
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

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let mode = input.first else { return 0 }
    let e = establish()
    guard let sa = e.responder.listSAs(now: 1).first else { fatalError("FuzzIKEEngine: the pair did not establish") }
    let peer = SocketAddress(sa.remote.address, sa.remote.port), local = SocketAddress(sa.local.address, sa.local.port)
    switch mode % 3 {
    case 0:
        _ = e.responder.handle(datagram: Array(input.dropFirst()), from: peer, to: local, now: 1)
    default:
        guard input.count >= 3 else { return 0 }
        let inner = Array(input.dropFirst(3))
        let protection = try! IKEPayloadProtection(encryption: e.keys.encryption, integrity: e.keys.integrity,
                                                   encryptionKey: mode % 3 == 1 ? e.keys.skEi : e.keys.skEr, integrityKey: [])
        let isResponse = mode % 3 == 2
        var flags: IKEHeaderFlags = [.initiator]
        if isResponse { flags.insert(.response) }
        let exchange = [IKEExchangeType.createChildSA, .informational, .ikeAuth][Int(input[2]) % 3].rawValue
        let header = IKEHeader(initiatorSPI: sa.initiatorSPI, responderSPI: sa.responderSPI, exchangeType: exchange,
                               flags: flags, messageID: isResponse ? 0 : 2)
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
