#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging

/// A deliberately tiny HTTP/1.0 server for Prometheus scrapes (`ternd --metrics ADDR:PORT`).
///
/// One thread, one connection at a time: a scrape is a single short GET, so there is nothing
/// to gain from concurrency and a misbehaving client can hold the server for at most the read
/// timeout. Requests are bounded (8 KiB header, 2 s to arrive); anything but `GET /metrics`
/// gets 404 or 405, and the connection is always closed after one response.
public final class MetricsServer: @unchecked Sendable {
    public static let maximumRequest = 8192
    /// Seconds a client has to send its request (each read also times out after this long).
    static let requestTimeout: UInt64 = 2
    private let fd: Int32
    private let render: @Sendable () -> String
    private let log: Logger
    private var thread: Thread?
    private let stopLock = NSLock()
    private var stopped = false
    /// The port actually bound (useful with port 0).
    public let port: UInt16

    /// Binds `address` ("127.0.0.1:9100", "[::]:9100", "[::1]:0") and starts serving.
    public init(address: String, log: Logger, render: @escaping @Sendable () -> String) throws {
        guard let (host, port) = Self.split(address) else {
            throw DaemonError("--metrics \(address): expected ADDRESS:PORT such as 127.0.0.1:9100 or [::]:9100")
        }
        self.render = render
        self.log = log
        var storage = sockaddr_storage()
        var length: socklen_t
        let family: Int32
        var a4 = in_addr(), a6 = in6_addr()
        if inet_pton(AF_INET, host, &a4) == 1 {
            family = AF_INET
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET); sin.sin_port = port.bigEndian; sin.sin_addr = a4
            withUnsafeBytes(of: sin) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        } else if inet_pton(AF_INET6, host, &a6) == 1 {
            family = AF_INET6
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6); sin6.sin6_port = port.bigEndian; sin6.sin6_addr = a6
            withUnsafeBytes(of: sin6) { src in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: src) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            throw DaemonError("--metrics \(address): '\(host)' is not an IPv4 or IPv6 address")
        }
        let s = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw DaemonError("--metrics: socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, length) }
        }
        guard bound == 0, Glibc.listen(s, 16) == 0 else {
            let why = String(cString: strerror(errno))
            Glibc.close(s)
            throw DaemonError("--metrics \(address): cannot listen: \(why)")
        }
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &length) }
        }
        let boundPort = withUnsafeBytes(of: storage) { raw -> UInt16 in
            // sin_port and sin6_port both sit at offset 2.
            UInt16(raw[2]) << 8 | UInt16(raw[3])
        }
        fd = s
        self.port = boundPort
        let t = Thread { [self] in serve() }
        t.name = "tern-metrics"
        thread = t
        t.start()
    }

    /// "127.0.0.1:9100" → ("127.0.0.1", 9100); "[::]:9100" → ("::", 9100); nil when malformed.
    public static func split(_ s: String) -> (String, UInt16)? {
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]") else { return nil }
            let host = String(s[s.index(after: s.startIndex)..<close])
            let rest = s[s.index(after: close)...]
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { return nil }
            return (host, port)
        }
        guard let colon = s.lastIndex(of: ":"), s.firstIndex(of: ":") == colon,
              let port = UInt16(s[s.index(after: colon)...]) else { return nil }
        return (String(s[..<colon]), port)
    }

    public func stop() {
        stopLock.lock()
        let was = stopped
        stopped = true
        stopLock.unlock()
        if !was { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    private var isStopped: Bool { stopLock.lock(); defer { stopLock.unlock() }; return stopped }

    private func serve() {
        while !isStopped {
            let c = accept(fd, nil, nil)
            if c < 0 {
                let e = errno
                if e == EINTR || e == ECONNABORTED { continue }
                if isStopped { break }
                // Out of descriptors or memory is temporary: wait a little rather than stop serving.
                log.warning("metrics: accept failed: \(String(cString: strerror(e)))")
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM { usleep(100_000); continue }
                break
            }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            var timeout = timeval(tv_sec: Int(Self.requestTimeout), tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            handle(c)
            Glibc.close(c)
        }
        Glibc.close(fd)
    }

    private func handle(_ c: Int32) {
        guard let head = readHead(c) else { return }
        let requestLine = head.split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? ""
        let parts = requestLine.split(separator: " ")
        let (status, body): (String, String)
        if parts.count < 2 {
            (status, body) = ("400 Bad Request", "bad request\n")
        } else if parts[0] != "GET" && parts[0] != "HEAD" {
            (status, body) = ("405 Method Not Allowed", "only GET\n")
        } else if parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?") {
            (status, body) = ("200 OK", render())
        } else {
            (status, body) = ("404 Not Found", "try /metrics\n")
        }
        let type = status.hasPrefix("200") ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8"
        var response = "HTTP/1.0 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        if parts.first != "HEAD" { response += body }
        let bytes = Array(response.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            sent += n
        }
    }

    /// Reads until the blank line that ends the header; nil on timeout, error or overflow. The
    /// whole header must arrive within `requestTimeout`, however slowly the client trickles it.
    private func readHead(_ c: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: Self.maximumRequest)
        var have = 0
        let deadline = DispatchTime.now().uptimeNanoseconds + Self.requestTimeout * 1_000_000_000
        while have < buffer.count, DispatchTime.now().uptimeNanoseconds < deadline {
            let n = buffer[have...].withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return nil }   // timed out or broken: no answer
            // The client closed its side after a request without the blank line: answer what came.
            if n == 0 { return have > 0 ? String(decoding: buffer[..<have], as: UTF8.self) : nil }
            have += n
            let text = String(decoding: buffer[..<have], as: UTF8.self)
            if text.contains("\r\n\r\n") || text.contains("\n\n") { return text }
        }
        return nil
    }
}
