import Atomics
import Foundation
import CTernLinux
import TernIKE
import TernPlatform
import TernWire

/// The IKE port (UDP 500, or ternd's --ike-port): per address family one SO_REUSEPORT group that
/// the kernel steers by the IKE header, and one thread per socket.
///
///   kernel, cBPF on the IKE header ─┬─► socket 0: messages of existing IKE SAs, responses,
///                                   │   IKE_SA_INITs returning a COOKIE ─► priority reader ─► intake
///                                   └─► sockets 1…n: cookie-less IKE_SA_INITs, spread by SPIi
///                                       ─► flood readers: while the engine requires cookies they
///                                          answer in place (one sendmmsg per batch), else ─► intake
///
/// A flood fills only the flood sockets' receive queues, so the kernel never drops a message of
/// an established IKE SA or a returned cookie because of it (with one socket it dropped 62 % of
/// everything at the highest flood rate), and the flood readers spread the cookie work over cores.
final class IKEPortReaders: @unchecked Sendable {
    /// Socket 0 of each family's group: the engine sends from it (any member has the port).
    let sendSockets: [IPAddress.Family: DatagramSocket]
    /// Set by the IKE queue after each turn: the engine requires cookies of new initiators.
    let cookieMode = ManagedAtomic<Bool>(false)
    /// Cookie answers the flood readers sent (the engine counts its own in stats.cookiesSent).
    let cookiesSent = ManagedAtomic<UInt64>(0)
    /// Datagrams each reader role took off its socket, for the metrics.
    let priorityDatagrams = ManagedAtomic<UInt64>(0)
    let floodDatagrams = ManagedAtomic<UInt64>(0)

    private let port: UInt16
    private let cookies: IKECookies
    private let running = ManagedAtomic<Bool>(true)
    private var readers: [(socket: DatagramSocket, priority: Bool, loop: EventLoop)] = []
    private var threads: [Thread] = []

    /// Flood readers per family by default: one per core, at most four.
    static var defaultFloodReaders: Int { max(1, min(4, ProcessInfo.processInfo.activeProcessorCount)) }

    init(port: UInt16, mark: UInt32, floodReaders: Int, cookies: IKECookies,
         warn: (String) -> Void) throws(DaemonError) {
        self.port = port
        self.cookies = cookies
        let floodReaderCount = max(1, floodReaders)
        var send: [IPAddress.Family: DatagramSocket] = [:]
        for fam in [IPAddress.Family.v4, .v6] {
            do {
                let group = try DatagramSocket.ikeSteeringGroup(family: fam, port: port, mark: mark, count: 1 + floodReaderCount)
                send[fam] = group[0]
                for (i, s) in group.enumerated() {
                    let loop = try EventLoop()
                    try loop.add(fd: s.fd, token: 0)
                    readers.append((s, i == 0, loop))
                }
            } catch {
                if fam == .v6 { warn("IKE: no IPv6 socket: \(error)"); continue }
                throw DaemonError("cannot listen for IKE on UDP port \(port): \(error) (is another IKE daemon running?)")
            }
        }
        sendSockets = send
    }

    /// Starts the threads; `deliver` gets every datagram the readers do not answer themselves.
    func start(deliver: @escaping @Sendable (_ bytes: [UInt8], _ from: SocketAddress, _ to: SocketAddress) -> Void) {
        for (i, r) in readers.enumerated() {
            let t = Thread { [self] in readLoop(r.socket, priority: r.priority, loop: r.loop, deliver: deliver) }
            t.name = r.priority ? "tern-ike-rx" : "tern-ike-flood\(i)"
            t.start()
            threads.append(t)
        }
    }

    func stop() {
        running.store(false, ordering: .relaxed)
        for r in readers { r.loop.wake() }
        for t in threads { while !t.isFinished { usleep(10_000) } }
    }

    /// Datagrams per recvmmsg (and cookie answers per sendmmsg).
    private static let batchSize = 64

    private func readLoop(_ socket: DatagramSocket, priority: Bool, loop: EventLoop,
                          deliver: ([UInt8], SocketAddress, SocketAddress) -> Void) {
        let batch = IOBatch(size: Self.batchSize)
        let bufSize = 65_536
        let storage = UnsafeMutableRawPointer.allocate(byteCount: bufSize * Self.batchSize, alignment: 16)
        defer { storage.deallocate() }
        for i in 0..<Self.batchSize {
            batch.rx[i].buf = (storage + i * bufSize).assumingMemoryBound(to: UInt8.self)
            batch.rx[i].cap = UInt32(bufSize)
        }
        // Cookie answers of one receive batch go out in one sendmmsg, from slots of their own.
        let replies = IOBatch(size: Self.batchSize)
        let slot = IKECookies.replyLength
        let replySlots = UnsafeMutableRawPointer.allocate(byteCount: Self.batchSize * slot, alignment: 16)
        defer { replySlots.deallocate() }
        let counter = priority ? priorityDatagrams : floodDatagrams
        while running.load(ordering: .relaxed) {
            _ = loop.wait(timeoutMilliseconds: 1000)
            while running.load(ordering: .relaxed) {
                let n = batch.receive(socket, count: Self.batchSize)
                if n <= 0 { break }
                counter.wrappingIncrement(by: UInt64(n), ordering: .relaxed)
                let answering = !priority && cookieMode.load(ordering: .relaxed)
                var answers = 0
                for i in 0..<n {
                    let rx = batch.rx[i]
                    guard rx.truncated == 0 else { continue }
                    let src = IPAddress(cBytes: rx.src, family: rx.family)
                    let raw = UnsafeRawBufferPointer(start: rx.buf, count: Int(rx.len))
                    if answering, cookies.answer(raw, from: src, into: replySlots + answers * slot) > 0 {
                        var tx = tern_tx()
                        tx.family = rx.family
                        tx.dst_port = rx.src_port
                        tx.dst = rx.src
                        tx.has_src = 1
                        tx.src = rx.dst
                        tx.buf = UnsafePointer((replySlots + answers * slot).assumingMemoryBound(to: UInt8.self))
                        tx.len = UInt32(slot)
                        replies.tx[answers] = tx
                        answers += 1
                        continue
                    }
                    let dst = IPAddress(cBytes: rx.dst, family: rx.family)
                    deliver([UInt8](raw), SocketAddress(src, rx.src_port), SocketAddress(dst, port))
                }
                if answers > 0 {
                    let sent = replies.send(socket, from: 0, count: answers)
                    if sent > 0 { cookiesSent.wrappingIncrement(by: UInt64(sent), ordering: .relaxed) }
                }
            }
        }
    }
}
