import FuzzSupport
#if canImport(Glibc)
import Glibc
#endif
import TernCrypto
import TernDataPlane
import TernWire

// The inbound path end to end: bytes from the network → SAD lookup → replay check → ICV/decrypt
// → padding and next header → inner packet parse → inbound policy check.
//
// Input layout: byte 0 chooses the case, the rest is the packet.
//   bits 0-2  which SA (index into `suites`)
//   bit 3     "authentic": the rest (after a 4-byte sequence number) is sealed with the SA's real
//             key first, so the fuzzer reaches everything behind the ICV check (padding, next
//             header, inner packet, policy) instead of stopping at the MAC
//   bit 4     the packet came over UDP 4500
//   bit 5     an IPv4 raw socket: a 20-byte IP header precedes the ESP/AH header
// One snapshot serves every input, its replay windows reset before each (no state carried over).

let peer = IPAddress("192.0.2.1")!
let local = IPAddress("192.0.2.2")!

struct Suite {
    let spi: UInt32
    let proto: IPSecProtocol
    let mode: IPSecMode
    let encryption: EncryptionAlgorithm
    let integrity: IntegrityAlgorithm
    let esn: Bool
    let window: Int
    let udp: Bool
}

let suites: [Suite] = [
    Suite(spi: 0x1001, proto: .esp, mode: .tunnel, encryption: .aesGCM16(keyBits: 256), integrity: .none, esn: false, window: 128, udp: false),
    Suite(spi: 0x1002, proto: .esp, mode: .transport, encryption: .aesCBC(keyBits: 128), integrity: .hmacSHA256_128, esn: true, window: 64, udp: false),
    Suite(spi: 0x1003, proto: .esp, mode: .tunnel, encryption: .chacha20Poly1305, integrity: .none, esn: true, window: 4096, udp: true),
    Suite(spi: 0x1004, proto: .esp, mode: .any, encryption: .aesGMAC(keyBits: 128), integrity: .none, esn: false, window: 0, udp: false),
    Suite(spi: 0x1005, proto: .esp, mode: .tunnel, encryption: .null, integrity: .hmacSHA1_96, esn: false, window: 32, udp: false),
    Suite(spi: 0x1006, proto: .ah, mode: .tunnel, encryption: .null, integrity: .hmacSHA512_256, esn: false, window: 128, udp: false),
    Suite(spi: 0x1007, proto: .ah, mode: .transport, encryption: .null, integrity: .hmacSHA384_192, esn: true, window: 128, udp: false),
]

func key(_ n: Int, _ seed: UInt8) -> KeyMaterial { KeyMaterial((0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) }) }

func config(_ s: Suite) -> SAConfig {
    SAConfig(source: peer, destination: local, proto: s.proto, spi: s.spi, mode: s.mode,
             encapsulation: s.udp ? .udp(sourcePort: 4500, destinationPort: 4500) : .none,
             replayWindow: s.window, extendedSequenceNumbers: s.esn,
             encryption: s.encryption, encryptionKey: key(s.encryption.keyMaterialLength, UInt8(s.spi & 0xff)),
             integrity: s.integrity, integrityKey: key(s.integrity.keyLength, UInt8(s.spi & 0xff) &+ 1))
}

func makeSnapshot() -> DataPlaneSnapshot {
    var db = SecurityDatabaseConfig()
    for s in suites { try! db.addSA(config(s)) }
    let tunnel = IPSecRule(proto: .esp, mode: .tunnel, tunnelSource: peer, tunnelDestination: local, level: .use)
    let ah = IPSecRule(proto: .ah, mode: .tunnel, tunnelSource: peer, tunnelDestination: local, level: .use)
    let transport = IPSecRule(proto: .esp, mode: .transport, level: .use)
    try! db.addPolicy(PolicyConfig(source: IPPrefix("198.51.100.0/24")!, destination: IPPrefix("203.0.113.0/24")!,
                                   direction: .inbound, action: .protect([tunnel])))
    try! db.addPolicy(PolicyConfig(source: IPPrefix("2001:db8:b::/48")!, destination: IPPrefix("2001:db8:a::/48")!,
                                   direction: .inbound, action: .protect([ah])))
    try! db.addPolicy(PolicyConfig(source: IPPrefix(host: peer), destination: IPPrefix(host: local),
                                   upperProtocol: 17, direction: .inbound, action: .protect([transport])))
    try! db.addPolicy(PolicyConfig(source: IPPrefix("0.0.0.0/0")!, destination: IPPrefix("0.0.0.0/0")!,
                                   upperProtocol: 1, direction: .inbound, priority: 0xf000_0000, action: .discard))
    return try! DataPlaneSnapshot(config: db, localAddresses: [local], underlayMTU: 1500, now: 1_000)
}

let snapshot = makeSnapshot()
let inboundSAs = snapshot.associations

let sealers: [ESPCipher?] = suites.map { s in
    guard s.proto == .esp else { return nil }
    let c = config(s)
    return try? ESPCipher(encryption: c.encryption, encryptionKey: c.encryptionKey.bytes,
                          integrity: c.integrity, integrityKey: c.integrityKey.bytes)
}

let headroom = 128, tailroom = 64, maxPacket = 4096
nonisolated(unsafe) let buffer = UnsafeMutableRawPointer.allocate(byteCount: headroom + maxPacket + 256 + tailroom, alignment: 16)

/// TERN_FUZZ_VERBOSE=1: print each verdict (to check that the seeds reach delivery).
let verbose = getenv("TERN_FUZZ_VERBOSE") != nil

@_cdecl("LLVMFuzzerTestOneInput")
/// libFuzzer entry: one input per call; must never crash, hang or leak.
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1, size <= maxPacket else { return 0 }
    let selector = data[0]
    let suiteIndex = Int(selector & 7) % suites.count
    let suite = suites[suiteIndex]
    let authentic = selector & 8 != 0
    let udp = selector & 16 != 0
    let ipHeader = selector & 32 != 0 && !udp ? 20 : 0
    let body = UnsafeBufferPointer(start: data + 1, count: size - 1)

    let capacity = headroom + maxPacket + 256 + tailroom
    var length = 0
    if authentic, let sealer = sealers[suiteIndex], body.count >= 4 {
        // [ipHeader][SPI][seq low][IV][plaintext from the fuzzer][ICV]
        let esp = buffer + headroom + ipHeader
        let plaintext = body.count - 4
        guard ipHeader + 8 + sealer.ivLength + plaintext + sealer.icvLength <= maxPacket + 256 else { return 0 }
        esp.storeBytes(of: suite.spi.bigEndian, as: UInt32.self)
        for i in 0..<4 { esp.storeBytes(of: body[i], toByteOffset: 4 + i, as: UInt8.self) }
        let low = UInt32(body[0]) << 24 | UInt32(body[1]) << 16 | UInt32(body[2]) << 8 | UInt32(body[3])
        for i in 0..<plaintext { esp.storeBytes(of: body[4 + i], toByteOffset: 8 + sealer.ivLength + i, as: UInt8.self) }
        // The receiver starts at top 0, so the high half it infers for ESN is 0.
        guard sealer.seal(esp: esp, plaintextLength: plaintext, sequence: UInt64(low), esn: suite.esn) else { return 0 }
        length = ipHeader + 8 + sealer.ivLength + plaintext + sealer.icvLength
        if ipHeader > 0 {
            let ip = buffer + headroom
            writeIPv4Header(ip, tos: 0, totalLength: length, identification: 0, dontFragment: true, ttl: 64,
                            proto: IPProtocolNumber.esp, source: peer, destination: local)
        }
    } else {
        length = body.count
        for i in 0..<length { buffer.storeBytes(of: body[i], toByteOffset: headroom + i, as: UInt8.self) }
    }

    var pkt = PacketBuffer(base: buffer, capacity: capacity, start: headroom, length: length)
    var context = InboundContext(proto: udp ? .esp : suite.proto, source: peer, destination: local,
                                 encapsulation: udp ? .udp(sourcePort: 4500, destinationPort: 4500) : .none,
                                 ipHeaderLength: ipHeader)
    if ipHeader > 0 && length < ipHeader { context.ipHeaderLength = 0 }
    let drops = DropCounters()
    // One snapshot for every input (building one cost most of each run); the SAs forget their
    // replay windows first, so no state carries over from one input to the next.
    for sa in inboundSAs { sa.replay.resetForReuse() }
    let verdict = InboundProcessor.process(&pkt, context: context, snapshot: snapshot, drops: drops, now: 1_000)
    if verbose { print("FuzzInbound: suite \(suiteIndex) authentic \(authentic) udp \(udp) → \(verdict)") }
    switch verdict {
    case .deliver:
        // What goes into the TUN must lie inside the buffer and be an IP packet.
        precondition(pkt.start >= 0 && pkt.length > 0 && pkt.start + pkt.length <= capacity, "delivered packet outside the buffer")
        precondition(PacketSelectors.parse(pkt.bytes, length: pkt.length) != nil, "delivered a packet that does not parse")
    case .drop(let reason):
        precondition(drops[reason] == 1 || reason == .tfcDummy, "drop \(reason) not counted")
    }
    return 0
}

runFuzzer(fuzzOne)
