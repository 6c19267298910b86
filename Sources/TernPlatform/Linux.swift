import CTernLinux
import Glibc
import TernWire

/// A failed system call, with the call and errno text (never silently ignored).
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let errno: Int32
    public init(_ call: String, errno: Int32) { self.call = call; self.errno = errno }
    public var description: String { "\(call): \(String(cString: strerror(errno)))" }
    static func check(_ call: String, _ r: Int32) throws(SystemError) -> Int32 {
        if r < 0 { throw SystemError(call, errno: -r) }
        return r
    }
}

/// A layer-3 TUN interface (no packet-info header): one IP packet per read/write.
public final class TunDevice: @unchecked Sendable {
    public let fd: Int32
    public let name: String

    public init(name: String) throws(SystemError) {
        var out = [CChar](repeating: 0, count: 16)
        fd = try SystemError.check("open /dev/net/tun (\(name))", tern_tun_open(name, 0, &out))
        self.name = String(decoding: out.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit { close(fd) }

    /// The TUN's transmit ring: packets the kernel routes into the TUN wait there for our read;
    /// when it is full the kernel drops them (counted as TX dropped on the interface).
    public func setTransmitQueueLength(_ length: Int) throws(SystemError) {
        _ = try SystemError.check("set txqueuelen \(length) on \(name)", tern_if_set_txqueuelen(name, Int32(length)))
    }

    public func setMTU(_ mtu: Int) throws(SystemError) {
        _ = try SystemError.check("set MTU \(mtu) on \(name)", tern_if_set_mtu(name, Int32(mtu)))
    }

    public var mtu: Int { Int(tern_if_get_mtu(name)) }

    public func up() throws(SystemError) {
        _ = try SystemError.check("bring \(name) up", tern_if_set_up(name))
    }

    /// Reads one packet; returns its length, 0 when none is waiting, or a negative errno.
    @inline(__always)
    public func read(into p: UnsafeMutableRawPointer, capacity: Int) -> Int {
        let n = Glibc.read(fd, p, capacity)
        if n < 0 { return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -Int(errno) }
        return n
    }

    @inline(__always)
    public func write(_ p: UnsafeRawPointer, count: Int) -> Bool {
        Glibc.write(fd, p, count) == count
    }
}

/// A non-blocking datagram socket (raw IP or UDP) with batched I/O.
public final class DatagramSocket: @unchecked Sendable {
    public let fd: Int32
    public let family: IPAddress.Family
    public let label: String

    public static func raw(family: IPAddress.Family, proto: Int32, mark: UInt32, headerIncluded: Bool) throws(SystemError) -> DatagramSocket {
        let fam: Int32 = family == .v4 ? 4 : 6
        let fd = try SystemError.check("raw socket (IPv\(fam), protocol \(proto))",
                                       tern_socket_raw(fam, proto, mark, headerIncluded ? 1 : 0))
        return DatagramSocket(fd: fd, family: family, label: "raw\(fam)/\(proto)")
    }

    public static func udp(family: IPAddress.Family, port: UInt16, mark: UInt32) throws(SystemError) -> DatagramSocket {
        let fam: Int32 = family == .v4 ? 4 : 6
        let fd = try SystemError.check("UDP socket on port \(port) (IPv\(fam))", tern_socket_udp(fam, port, mark))
        return DatagramSocket(fd: fd, family: family, label: "udp\(fam)/\(port)")
    }

    /// `count` (≥ 2) sockets on the IKE port in one SO_REUSEPORT group steered by the kernel:
    /// the first receives messages for existing IKE SAs and IKE_SA_INITs that return a cookie,
    /// the others share cookie-less IKE_SA_INITs (see tern_socket_udp_group). Fails with
    /// EADDRINUSE when something else already holds the port.
    public static func ikeSteeringGroup(family: IPAddress.Family, port: UInt16, mark: UInt32,
                                        count: Int) throws(SystemError) -> [DatagramSocket] {
        let fam: Int32 = family == .v4 ? 4 : 6
        var fds = [Int32](repeating: -1, count: count)
        _ = try SystemError.check("UDP socket group on port \(port) (IPv\(fam))",
                                  tern_socket_udp_group(fam, port, mark, Int32(count), &fds))
        return fds.enumerated().map { DatagramSocket(fd: $1, family: family, label: "udp\(fam)/\(port)#\($0)") }
    }

    init(fd: Int32, family: IPAddress.Family, label: String) {
        self.fd = fd; self.family = family; self.label = label
    }

    deinit { close(fd) }
}

/// Batch scratch for one worker thread.
public final class IOBatch: @unchecked Sendable {
    public let size: Int
    let handle: OpaquePointer
    public let rx: UnsafeMutablePointer<tern_rx>
    public let tx: UnsafeMutablePointer<tern_tx>

    public init(size: Int) {
        self.size = size
        handle = tern_batch_new(Int32(size))!
        rx = .allocate(capacity: size)
        rx.initialize(repeating: tern_rx(), count: size)
        tx = .allocate(capacity: size)
        tx.initialize(repeating: tern_tx(), count: size)
    }

    deinit {
        tern_batch_free(handle)
        rx.deallocate(); tx.deallocate()
    }

    /// Receives into `rx[0..<count]` (their buf/cap must be set). Returns count or -errno.
    @inline(__always)
    public func receive(_ socket: DatagramSocket, count: Int) -> Int {
        Int(tern_recv_batch(socket.fd, handle, rx, Int32(count)))
    }

    /// Sends `tx[from..<from+count]`. Returns how many left, or -errno.
    @inline(__always)
    public func send(_ socket: DatagramSocket, from: Int, count: Int) -> Int {
        Int(tern_send_batch(socket.fd, handle, tx + from, Int32(count)))
    }
}

/// epoll over a few descriptors with integer tokens, plus an eventfd to wake the loop.
public final class EventLoop: @unchecked Sendable {
    public let epfd: Int32
    public let wakeFD: Int32
    public static let wakeToken: UInt64 = .max
    private let tokens = UnsafeMutablePointer<UInt64>.allocate(capacity: 64)

    public init() throws(SystemError) {
        epfd = try SystemError.check("epoll_create", tern_epoll_create())
        wakeFD = try SystemError.check("eventfd", tern_eventfd())
        _ = try SystemError.check("epoll_ctl", tern_epoll_add(epfd, wakeFD, EventLoop.wakeToken))
    }

    deinit { close(epfd); close(wakeFD); tokens.deallocate() }

    public func add(fd: Int32, token: UInt64) throws(SystemError) {
        _ = try SystemError.check("epoll_ctl", tern_epoll_add(epfd, fd, token))
    }

    /// Waits for readiness; returns the ready tokens (a view valid until the next call).
    public func wait(timeoutMilliseconds: Int32) -> UnsafeBufferPointer<UInt64> {
        let n = tern_epoll_wait(epfd, tokens, 64, timeoutMilliseconds)
        return UnsafeBufferPointer(start: tokens, count: max(0, Int(n)))
    }

    public func wake() { _ = tern_eventfd_signal(wakeFD) }
}

extension IPAddress {
    /// From a 16-byte C array of the given family (4 or 6).
    public init(cBytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                         UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8), family: UInt8) {
        var t = cBytes
        self = withUnsafeBytes(of: &t) { IPAddress(reading: $0.baseAddress!, family: family == 4 ? .v4 : .v6) }
    }

    /// Writes into a 16-byte C array.
    public func store(into t: inout (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) {
        withUnsafeMutableBytes(of: &t) { write(to: $0.baseAddress!) }
    }
}

/// The host's configured addresses (for "is this SA ours?", route source hints, ICMP sources).
public enum LocalAddresses {
    public static func current() -> Set<IPAddress> {
        var result = Set<IPAddress>()
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return result }
        defer { freeifaddrs(list) }
        var p = list
        while let ifa = p {
            defer { p = ifa.pointee.ifa_next }
            guard let sa = ifa.pointee.ifa_addr else { continue }
            if sa.pointee.sa_family == UInt16(AF_INET) {
                let a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    IPAddress(v4: UInt32(bigEndian: $0.pointee.sin_addr.s_addr))
                }
                result.insert(a)
            } else if sa.pointee.sa_family == UInt16(AF_INET6) {
                var raw = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                result.insert(withUnsafeBytes(of: &raw) { IPAddress(reading: $0.baseAddress!, family: .v6) })
            }
        }
        return result
    }
}

public enum MemoryTuning {
    /// See tern_limit_malloc_arenas: fewer glibc arenas, less RSS per thread that allocates.
    public static func limitMallocArenas(_ arenas: Int) { tern_limit_malloc_arenas(Int32(arenas)) }
}

extension MonotonicInstant {
    /// The monotonic clock now (CLOCK_MONOTONIC): the one clock the daemon hands the data plane,
    /// the hold queue and the IKE engine.
    public static var now: MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicInstant(nanoseconds: UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec))
    }

    /// This instant as Unix seconds on today's wall clock, for display (`tern state`); 0 stays 0.
    public var unixSeconds: UInt64 {
        guard nanoseconds != 0 else { return 0 }
        var wall = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        let ago = MonotonicInstant.now.nanoseconds &- min(nanoseconds, MonotonicInstant.now.nanoseconds)
        return UInt64(wall.tv_sec) &- min(UInt64(wall.tv_sec), ago / 1_000_000_000)
    }
}
