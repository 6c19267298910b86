// The small POSIX toolkit the VICI client and server share: Unix socket addresses, framed
// reads and writes that never raise SIGPIPE, a mutex with a condition, and raw threads.
#if canImport(Glibc)
import Glibc
#endif

enum Posix {
    static func message(_ e: Int32) -> String { String(cString: strerror(e)) }

    static func unixAddress(_ path: String) throws(VICIError) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity, !bytes.contains(0) else {
            throw VICIError(.pathTooLong, "'\(path)' must be 1...\(capacity - 1) bytes without NUL")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return addr
    }

    static func socketAddressed(_ path: String, _ call: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32,
                                fd: Int32) throws(VICIError) -> Int32 {
        var addr = try unixAddress(path)
        return withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    static func streamSocket() throws(VICIError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw VICIError(.io, errno: errno, "socket: \(message(errno))") }
        return fd
    }

    /// Connects a new socket to `path`, mapping the errors users meet to clear reasons.
    static func connect(_ path: String) throws(VICIError) -> Int32 {
        let fd = try streamSocket()
        var rc: Int32
        repeat {
            rc = try socketAddressed(path, Glibc.connect, fd: fd)
        } while rc != 0 && errno == EINTR
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            switch e {
            case ENOENT: throw VICIError(.socketMissing, errno: e, "\(path) does not exist")
            case ECONNREFUSED: throw VICIError(.connectionRefused, errno: e, "nothing listens on \(path)")
            case EACCES, EPERM: throw VICIError(.permissionDenied, errno: e, "\(path): \(message(e))")
            default: throw VICIError(.io, errno: e, "connect \(path): \(message(e))")
            }
        }
        return fd
    }

    static func setSendTimeout(_ fd: Int32, seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Writes every byte or throws. MSG_NOSIGNAL: a vanished peer is an error, not a SIGPIPE.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws(VICIError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + done, $0.count - done, Int32(MSG_NOSIGNAL)) }
            if n > 0 { done += n; continue }
            let e = errno
            if n < 0 && e == EINTR { continue }
            if n < 0 && (e == EAGAIN || e == EWOULDBLOCK) {
                throw VICIError(.io, errno: e, "write timed out (peer not reading)")
            }
            throw VICIError(e == EPIPE || e == ECONNRESET ? .closed : .io, errno: e, "send: \(message(e))")
        }
    }

    /// Fills `buffer` completely. Returns false on EOF before the first byte; EOF part-way
    /// throws `.truncated`.
    static func recvExact(_ fd: Int32, _ buffer: inout [UInt8]) throws(VICIError) -> Bool {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + done, $0.count - done, 0) }
            if n > 0 { done += n; continue }
            if n == 0 {
                if done == 0 { return false }
                throw VICIError(.truncated, "connection closed inside a frame")
            }
            let e = errno
            if e == EINTR { continue }
            throw VICIError(e == ECONNRESET ? .closed : .io, errno: e, "recv: \(message(e))")
        }
        return true
    }

    /// Reads one length-framed packet; nil on a clean EOF between frames. The length is
    /// checked before anything is allocated.
    static func readFrame(_ fd: Int32, maxSize: Int) throws(VICIError) -> [UInt8]? {
        var header = [UInt8](repeating: 0, count: 4)
        guard try recvExact(fd, &header) else { return nil }
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard length <= maxSize else { throw VICIError(.oversized, "frame of \(length) bytes, limit \(maxSize)") }
        var body = [UInt8](repeating: 0, count: length)
        guard try recvExact(fd, &body) else { throw VICIError(.truncated, "connection closed inside a frame") }
        return body
    }
}

/// A pthread mutex with one condition variable (monotonic clock for timed waits).
final class Lock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(cond, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Only with the lock held.
    func wait() { pthread_cond_wait(cond, mutex) }

    /// Only with the lock held; false once `deadline` (CLOCK_MONOTONIC nanoseconds) passed.
    func wait(until deadline: UInt64) -> Bool {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(cond, mutex, &ts) == 0
    }

    func broadcast() { pthread_cond_broadcast(cond) }

    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// Raw pthreads: the server needs joinable threads and nothing from Foundation.
enum Threads {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    static func spawn(detached: Bool, _ run: @escaping @Sendable () -> Void) throws(VICIError) -> pthread_t {
        let box = Unmanaged.passRetained(Body(run)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(box).release()
            throw VICIError(.io, errno: rc, "pthread_create: \(Posix.message(rc))")
        }
        if detached { pthread_detach(tid) }
        return tid
    }

    static func join(_ tid: pthread_t) { pthread_join(tid, nil) }
}
