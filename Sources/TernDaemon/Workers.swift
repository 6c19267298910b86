import Atomics
import CTernLinux
import Foundation
import TernDataPlane
import TernPlatform
import TernWire

// The two data-plane threads. Each runs to completion over a batch, owns its buffers, and
// touches shared state only through the snapshot (read-only) and relaxed-atomic counters.
//
//   outbound:  epoll(TUN) → read ≤ batch packets into slots → OutboundProcessor (SPD, seal in place)
//              → per-socket tx vectors → sendmmsg (ESP raw / ESP-in-UDP / AH & bypass with IP header)
//   inbound:   epoll(ESP, AH raw sockets; UDP 4500) → recvmmsg ≤ batch → InboundProcessor
//              (SAD, replay, open in place, policy check) → write to TUN
//
// One thread per direction suits this 2-core machine; per-SA state is split so that each
// direction's fields have a single writer (see SecurityAssociation).
//
// Trap policies (slow path, outbound worker): a packet that matches a trap policy without an SA
// is copied into the worker's HoldQueue, which also rate-limits acquires. Acquires leave the
// worker through `onAcquire` on a serial dispatch queue; `flushHeld`/`discardHeld` come in
// through a locked mailbox that the worker reads once per batch when a flag says it is not
// empty. Held packets whose SA appears in a newly published snapshot are sent before the
// next packets from the TUN, so a flow's first packets are not overtaken by its later ones.

/// Sockets shared by both workers (each worker only sends or only receives on each).
struct DataPlaneSockets {
    var espRaw: [IPAddress.Family: DatagramSocket] = [:]
    var ahRaw: [IPAddress.Family: DatagramSocket] = [:]
    /// IPPROTO_RAW with the IP header written by us (AH, bypassed cleartext).
    var headerIncluded: [IPAddress.Family: DatagramSocket] = [:]
    var udp: [IPAddress.Family: DatagramSocket] = [:]
    var udpPort: UInt16 = 0
}

/// Slots of `slotSize` bytes, one per packet of a batch.
final class SlotArena: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let slotSize: Int
    let count: Int
    init(count: Int, slotSize: Int) {
        self.count = count; self.slotSize = slotSize
        base = .allocate(byteCount: count * slotSize, alignment: 64)
    }
    deinit { base.deallocate() }
    @inline(__always) func slot(_ i: Int) -> UnsafeMutableRawPointer { base + i * slotSize }
}

/// Counters of non-ESP traffic on the UDP port (NAT keepalives, IKE before the IKE engine).
final class UDPPortCounters: @unchecked Sendable {
    let block = CounterBlock(count: 2)   // keepalives, non-ESP (IKE) datagrams
}

/// The tx vectors of one batch, by socket, and how many packets each holds so far.
struct TxBatches {
    let esp4: IOBatch, esp6: IOBatch, udp4: IOBatch, udp6: IOBatch, ip4: IOBatch, ip6: IOBatch
    var nEsp4 = 0, nEsp6 = 0, nUdp4 = 0, nUdp6 = 0, nIp4 = 0, nIp6 = 0
}

final class OutboundWorker: @unchecked Sendable {
    let tun: TunDevice
    let sockets: DataPlaneSockets
    let box: SnapshotBox
    let drops: DropCounters
    let loop: EventLoop
    let batchSize: Int
    let arena: SlotArena
    /// One tx vector per destination socket.
    let espBatch: [IPAddress.Family: IOBatch]
    let udpBatch: [IPAddress.Family: IOBatch]
    let ipBatch: [IPAddress.Family: IOBatch]
    private let running = ManagedAtomic<Bool>(true)

    /// Packets waiting for trap policies' SAs. Worker thread only.
    private var held: HoldQueue
    /// Control thread → worker: flush/discard requests, run on the worker thread in call order.
    private enum HoldCommand { case flush(UInt32), discard(UInt32) }
    private let mailboxLock = NSLock()
    private var mailbox: [HoldCommand] = []
    private var acquireHandler: (@Sendable (AcquireRequest) -> Void)?
    /// Set with the mailbox under its lock; the worker polls it (one atomic load per batch).
    private let mailboxFull = ManagedAtomic<Bool>(false)
    /// Where acquires are delivered: a serial queue, so the handler runs in signalling order
    /// and never on the worker thread. `async` returns at once (the worker never waits for the
    /// control plane); the block it allocates is acceptable here because acquires are rate
    /// limited per reqid (`HoldQueue.Limits.acquireInterval`), unlike packets.
    private let acquireDelivery = DispatchQueue(label: "tern.outbound.acquire")

    /// Called for each acquire a trap policy raises (at most once per reqid per acquire
    /// interval), on a private serial queue, never on the worker thread: it may block. Safe
    /// to set from any thread at any time; nil drops acquires (held packets then expire).
    var onAcquire: (@Sendable (AcquireRequest) -> Void)? {
        get { mailboxLock.withLock { acquireHandler } }
        set { mailboxLock.withLock { acquireHandler = newValue } }
    }

    /// Sends the packets held for `reqid` through the current outbound path, oldest first.
    /// Call it after publishing the snapshot with the new SAs. Returns at once, from any
    /// thread; the worker carries it out at its next batch, seeing that snapshot or a newer
    /// one. A held packet that still finds no SA is dropped as `no_sa`. Packets whose SA
    /// appears in a published snapshot are sent even without this call (see the file header).
    func flushHeld(reqid: UInt32) { post(.flush(reqid)) }

    /// Drops the packets held for `reqid` (negotiation failed), counted as `hold_discarded`.
    /// Same threading as `flushHeld`.
    func discardHeld(reqid: UInt32) { post(.discard(reqid)) }

    private func post(_ command: HoldCommand) {
        mailboxLock.withLock {
            mailbox.append(command)
            mailboxFull.store(true, ordering: .releasing)
        }
        loop.wake()
    }

    init(tun: TunDevice, sockets: DataPlaneSockets, box: SnapshotBox, drops: DropCounters, batchSize: Int,
         maxPacket: Int, holdLimits: HoldQueue.Limits = HoldQueue.Limits()) throws {
        self.tun = tun; self.sockets = sockets; self.box = box; self.drops = drops; self.batchSize = batchSize
        held = HoldQueue(limits: holdLimits)
        loop = try EventLoop()
        try loop.add(fd: tun.fd, token: 0)
        arena = SlotArena(count: batchSize, slotSize: packetHeadroom + maxPacket + packetTailroom)
        espBatch = [.v4: IOBatch(size: batchSize), .v6: IOBatch(size: batchSize)]
        udpBatch = [.v4: IOBatch(size: batchSize), .v6: IOBatch(size: batchSize)]
        ipBatch = [.v4: IOBatch(size: batchSize), .v6: IOBatch(size: batchSize)]
    }

    func stop() { running.store(false, ordering: .relaxed); loop.wake() }

    func run() {
        var snapshot = box.load()
        var generation = snapshot.generation
        var tx = TxBatches(esp4: espBatch[.v4]!, esp6: espBatch[.v6]!, udp4: udpBatch[.v4]!, udp6: udpBatch[.v6]!,
                           ip4: ipBatch[.v4]!, ip6: ipBatch[.v6]!)
        let maxRead = arena.slotSize - packetHeadroom - packetTailroom
        while running.load(ordering: .relaxed) {
            _ = loop.wait(timeoutMilliseconds: 1000)
            var more = true
            while more && running.load(ordering: .relaxed) {
                let g = box.generation.load(ordering: .acquiring)
                if g != generation {
                    snapshot = box.load(); generation = snapshot.generation
                    if !held.isEmpty { sendReadyHeld(snapshot: snapshot, tx: &tx) }
                }
                if mailboxFull.load(ordering: .acquiring) { runMailbox(snapshot: &snapshot, generation: &generation, tx: &tx) }
                if !held.isIdle { held.expire(now: .now, drops: drops) }
                let now = MonotonicInstant.now
                var read = 0
                while read < batchSize {
                    let slot = arena.slot(read)
                    let len = tun.read(into: slot + packetHeadroom, capacity: maxRead)
                    if len <= 0 { break }
                    read += 1
                    var pkt = PacketBuffer(base: slot, capacity: arena.slotSize, start: packetHeadroom, length: len)
                    let verdict = OutboundProcessor.process(&pkt, snapshot: snapshot, drops: drops, now: now)
                    if case .hold(let reqid) = verdict { hold(pkt, reqid: reqid); continue }
                    route(verdict, pkt, &tx)
                }
                flushAll(&tx)
                more = read == batchSize
            }
        }
    }

    /// Queues a processed packet for its socket (or writes an ICMP error back into the TUN).
    @inline(__always)
    private func route(_ verdict: OutboundVerdict, _ pkt: PacketBuffer, _ tx: inout TxBatches) {
        switch verdict {
        case .send(let t):
            switch t.kind {
            case .esp:
                if t.destination.family == .v4 { OutboundWorker.fill(tx.esp4, &tx.nEsp4, pkt, t) }
                else { OutboundWorker.fill(tx.esp6, &tx.nEsp6, pkt, t) }
            case .udp:
                if t.destination.family == .v4 { OutboundWorker.fill(tx.udp4, &tx.nUdp4, pkt, t) }
                else { OutboundWorker.fill(tx.udp6, &tx.nUdp6, pkt, t) }
            case .ipPacket:
                if t.destination.family == .v4 { OutboundWorker.fill(tx.ip4, &tx.nIp4, pkt, t, source: false) }
                else { OutboundWorker.fill(tx.ip6, &tx.nIp6, pkt, t, source: false) }
            }
        case .bypass:
            guard let sel = PacketSelectors.parse(pkt.bytes, length: pkt.length) else { return }
            let t = Transmission(kind: .ipPacket, source: sel.source, destination: sel.destination,
                                 sourcePort: 0, destinationPort: 0, trafficClass: 0)
            if sel.family == .v4 { OutboundWorker.fill(tx.ip4, &tx.nIp4, pkt, t, source: false) }
            else { OutboundWorker.fill(tx.ip6, &tx.nIp6, pkt, t, source: false) }
        case .icmpError:
            if !tun.write(pkt.bytes, count: pkt.length) { drops.count(.tunWriteFailed) }
        case .hold:
            drops.count(.noSA)   // callers hold packets themselves; here there is no SA to send on
        case .drop:
            break
        }
    }

    @inline(__always)
    private func flushAll(_ tx: inout TxBatches) {
        flush(tx.esp4, tx.nEsp4, sockets.espRaw[.v4])
        flush(tx.esp6, tx.nEsp6, sockets.espRaw[.v6])
        flush(tx.udp4, tx.nUdp4, sockets.udp[.v4])
        flush(tx.udp6, tx.nUdp6, sockets.udp[.v6])
        flush(tx.ip4, tx.nIp4, sockets.headerIncluded[.v4])
        flush(tx.ip6, tx.nIp6, sockets.headerIncluded[.v6])
        tx.nEsp4 = 0; tx.nEsp6 = 0; tx.nUdp4 = 0; tx.nUdp6 = 0; tx.nIp4 = 0; tx.nIp6 = 0
    }

    // MARK: Trap policies (slow path)

    private func hold(_ pkt: PacketBuffer, reqid: UInt32) {
        guard let request = held.hold(pkt, reqid: reqid, now: .now, drops: drops) else { return }
        guard let handler = onAcquire else { return }
        acquireDelivery.async { handler(request) }
    }

    /// Re-runs held packets through the outbound path in order and sends them. Runs between
    /// batches, when the slots and tx vectors are free; a packet that still has no SA is dropped.
    private func send(_ packets: [HeldPacket], snapshot: DataPlaneSnapshot, tx: inout TxBatches) {
        let now = MonotonicInstant.now
        var slotIndex = 0
        for packet in packets {
            if slotIndex == batchSize { flushAll(&tx); slotIndex = 0 }
            guard var pkt = packet.load(into: arena.slot(slotIndex), capacity: arena.slotSize) else {
                drops.count(.malformed); continue
            }
            slotIndex += 1
            route(OutboundProcessor.process(&pkt, snapshot: snapshot, drops: drops, now: now), pkt, &tx)
        }
        flushAll(&tx)
    }

    /// Sends what a new snapshot has SAs for, before any newer packet of the same flows.
    private func sendReadyHeld(snapshot: DataPlaneSnapshot, tx: inout TxBatches) {
        for reqid in held.ready(in: snapshot) { send(held.take(reqid: reqid), snapshot: snapshot, tx: &tx) }
    }

    private func runMailbox(snapshot: inout DataPlaneSnapshot, generation: inout UInt64, tx: inout TxBatches) {
        let commands: [HoldCommand] = mailboxLock.withLock {
            defer { mailbox.removeAll(keepingCapacity: true); mailboxFull.store(false, ordering: .relaxed) }
            return mailbox
        }
        // A command was posted after the snapshot it relies on was published: pick that one up.
        if box.generation.load(ordering: .acquiring) != generation {
            snapshot = box.load(); generation = snapshot.generation
            if !held.isEmpty { sendReadyHeld(snapshot: snapshot, tx: &tx) }
        }
        for command in commands {
            switch command {
            case .flush(let reqid): send(held.take(reqid: reqid), snapshot: snapshot, tx: &tx)
            case .discard(let reqid): held.discard(reqid: reqid, drops: drops)
            }
        }
    }

    @inline(__always)
    static func fill(_ b: IOBatch, _ n: inout Int, _ pkt: PacketBuffer, _ t: Transmission, source: Bool = true) {
        let tx = b.tx + n
        tx.pointee.buf = UnsafePointer(pkt.bytes.assumingMemoryBound(to: UInt8.self))
        tx.pointee.len = UInt32(pkt.length)
        tx.pointee.family = t.destination.family == .v4 ? 4 : 6
        tx.pointee.has_src = source ? 1 : 0
        tx.pointee.tos = t.trafficClass
        tx.pointee.dst_port = t.destinationPort
        t.source.store(into: &tx.pointee.src)
        t.destination.store(into: &tx.pointee.dst)
        n += 1
    }

    @inline(__always)
    func flush(_ b: IOBatch, _ n: Int, _ socket: DatagramSocket?) {
        guard n > 0 else { return }
        guard let socket else {
            for _ in 0..<n { drops.count(.sendFailed) }
            return
        }
        var sent = 0
        while sent < n {
            let r = b.send(socket, from: sent, count: n - sent)
            if r <= 0 {
                // Drop the packet the kernel refused and carry on with the rest of the batch.
                drops.count(.sendFailed)
                SendFailureLog.note(errno: -Int32(r), socket: socket.label)
                sent += 1
            } else {
                sent += r
            }
        }
    }
}

final class InboundWorker: @unchecked Sendable {
    let tun: TunDevice
    let sockets: DataPlaneSockets
    let box: SnapshotBox
    let drops: DropCounters
    let udpCounters: UDPPortCounters
    let loop: EventLoop
    let batchSize: Int
    let arena: SlotArena
    let batch: IOBatch
    private let running = ManagedAtomic<Bool>(true)
    private var sources: [(socket: DatagramSocket, proto: IPSecProtocol, udp: Bool)] = []
    /// IKE datagrams that arrive on the ESP-in-UDP port (after the non-ESP marker), handed to
    /// the IKE controller (which copies them and returns at once). Set before `run`.
    var onIKE: (@Sendable (_ bytes: UnsafeRawBufferPointer, _ source: IPAddress, _ sourcePort: UInt16, _ destination: IPAddress) -> Void)?

    init(tun: TunDevice, sockets: DataPlaneSockets, box: SnapshotBox, drops: DropCounters,
         udpCounters: UDPPortCounters, batchSize: Int, maxPacket: Int) throws {
        self.tun = tun; self.sockets = sockets; self.box = box; self.drops = drops
        self.udpCounters = udpCounters; self.batchSize = batchSize
        loop = try EventLoop()
        arena = SlotArena(count: batchSize, slotSize: packetHeadroom + maxPacket + packetTailroom)
        batch = IOBatch(size: batchSize)
        for fam in [IPAddress.Family.v4, .v6] {
            if let s = sockets.espRaw[fam] { sources.append((s, .esp, false)) }
            if let s = sockets.ahRaw[fam] { sources.append((s, .ah, false)) }
            if let s = sockets.udp[fam] { sources.append((s, .esp, true)) }
        }
        for (i, s) in sources.enumerated() { try loop.add(fd: s.socket.fd, token: UInt64(i)) }
        for i in 0..<batchSize {
            batch.rx[i].buf = arena.slot(i).advanced(by: packetHeadroom).assumingMemoryBound(to: UInt8.self)
            batch.rx[i].cap = UInt32(arena.slotSize - packetHeadroom - packetTailroom)
        }
    }

    func stop() { running.store(false, ordering: .relaxed); loop.wake() }

    func run() {
        var snapshot = box.load()
        var generation = snapshot.generation
        while running.load(ordering: .relaxed) {
            let ready = loop.wait(timeoutMilliseconds: 1000)
            for token in ready where token != EventLoop.wakeToken {
                let source = sources[Int(token)]
                while running.load(ordering: .relaxed) {
                    let g = box.generation.load(ordering: .acquiring)
                    if g != generation { snapshot = box.load(); generation = snapshot.generation }
                    let n = batch.receive(source.socket, count: batchSize)
                    if n <= 0 { break }
                    let now = MonotonicInstant.now
                    for i in 0..<n { handle(i, source: source, snapshot: snapshot, now: now) }
                    if n < batchSize { break }
                }
            }
        }
    }

    @inline(__always)
    private func handle(_ i: Int, source: (socket: DatagramSocket, proto: IPSecProtocol, udp: Bool),
                        snapshot: DataPlaneSnapshot, now: MonotonicInstant) {
        let rx = batch.rx + i
        let len = Int(rx.pointee.len)
        if rx.pointee.truncated != 0 { drops.count(.malformed); return }
        let slot = arena.slot(i)
        var pkt = PacketBuffer(base: slot, capacity: arena.slotSize, start: packetHeadroom, length: len)
        let src = IPAddress(cBytes: rx.pointee.src, family: rx.pointee.family)
        var dst = IPAddress(cBytes: rx.pointee.dst, family: rx.pointee.family)
        var ctx = InboundContext(proto: source.proto, source: src, destination: dst)
        if source.udp {
            // RFC 3948 §2.2/§2.3: a single 0xFF byte is a NAT keepalive; four zero bytes mark IKE.
            if len == 1 && pkt.bytes.load(as: UInt8.self) == 0xff { udpCounters.block.add(0); return }
            if len >= 4 && load32(pkt.bytes, 0) == 0 {
                udpCounters.block.add(1)
                onIKE?(UnsafeRawBufferPointer(start: pkt.bytes + 4, count: len - 4), src, rx.pointee.src_port, dst)
                return
            }
            ctx.encapsulation = .udp(sourcePort: rx.pointee.src_port, destinationPort: sockets.udpPort)
        } else if source.socket.family == .v4 {
            // IPv4 raw sockets deliver the IP header.
            guard len >= 20 else { drops.count(.malformed); return }
            let ihl = Int(pkt.bytes.load(as: UInt8.self) & 0x0f) * 4
            guard ihl >= 20, ihl <= len else { drops.count(.malformed); return }
            dst = IPAddress(reading: pkt.bytes + 16, family: .v4)
            ctx.destination = dst
            ctx.ipHeaderLength = ihl
        }
        switch InboundProcessor.process(&pkt, context: ctx, snapshot: snapshot, drops: drops, now: now) {
        case .deliver:
            if !tun.write(pkt.bytes, count: pkt.length) { drops.count(.tunWriteFailed) }
        case .drop:
            break
        }
    }
}

/// One stderr line per second at most about refused sends (slow path), so an operator can see
/// why `send_failed` grows (ENOBUFS, EPERM from a firewall, ENETUNREACH after a route change).
enum SendFailureLog {
    private static let last = ManagedAtomic<Int>(0)
    static func note(errno e: Int32, socket: String) {
        let now = Int(time(nil))
        let prev = last.load(ordering: .relaxed)
        guard now != prev, last.compareExchange(expected: prev, desired: now, ordering: .relaxed).exchanged else { return }
        FileHandle.standardError.write(Data("ternd: send on \(socket) failed: \(String(cString: strerror(e))) (errno \(e))\n".utf8))
    }
}
