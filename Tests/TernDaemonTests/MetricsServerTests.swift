import Foundation
import Glibc
import Logging
import Testing
@testable import TernDaemon

/// Sends `request` to 127.0.0.1:`port` and returns everything the server answers before closing.
func exchange(port: UInt16, _ request: [UInt8]) throws -> String {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #expect(s >= 0)
    defer { close(s) }
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_port = port.bigEndian
    sin.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &sin) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    #expect(rc == 0)
    var timeout = timeval(tv_sec: 5, tv_usec: 0)
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    _ = request.withUnsafeBytes { send(s, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(s, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        out += buffer[..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

@Suite struct MetricsServerTests {
    @Test func servesMetricsAndRefusesEverythingElse() throws {
        let server = try MetricsServer(address: "127.0.0.1:0", log: Logger(label: "test")) { "tern_up 1\n" }
        defer { server.stop() }
        #expect(server.port != 0)
        let ok = try exchange(port: server.port, Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(ok.hasPrefix("HTTP/1.0 200 OK\r\n"))
        #expect(ok.contains("Content-Type: text/plain; version=0.0.4"))
        #expect(ok.contains("Content-Length: 10\r\n"))
        #expect(ok.hasSuffix("\r\n\r\ntern_up 1\n"))
        #expect(try exchange(port: server.port, Array("GET / HTTP/1.0\r\n\r\n".utf8)).hasPrefix("HTTP/1.0 404"))
        #expect(try exchange(port: server.port, Array("DELETE /metrics HTTP/1.0\r\n\r\n".utf8)).hasPrefix("HTTP/1.0 405"))
        #expect(try exchange(port: server.port, Array("\r\n\r\n".utf8)).hasPrefix("HTTP/1.0 400"))
        let head = try exchange(port: server.port, Array("HEAD /metrics HTTP/1.0\r\n\r\n".utf8))
        #expect(head.hasPrefix("HTTP/1.0 200") && head.hasSuffix("\r\n\r\n"))
        // A header that never ends within the limit is dropped unanswered; the server carries on.
        #expect(try exchange(port: server.port, [UInt8](repeating: 0x41, count: MetricsServer.maximumRequest + 100)) == "")
        #expect(try exchange(port: server.port, Array("GET /metrics HTTP/1.0\n\n".utf8)).hasPrefix("HTTP/1.0 200"))
    }

    @Test func aClientThatNeverFinishesItsRequestIsCutOff() throws {
        let server = try MetricsServer(address: "127.0.0.1:0", log: Logger(label: "test")) { "tern_up 1\n" }
        defer { server.stop() }
        let start = Date()
        // No blank line ever comes: the server gives up after its request timeout, unanswered.
        #expect(try exchange(port: server.port, Array("GET /metrics HTTP/1.0\r\n".utf8)) == "")
        let waited = Date().timeIntervalSince(start)
        #expect(waited >= 1.5 && waited < 4.5, "waited \(waited)s")
        #expect(try exchange(port: server.port, Array("GET /metrics HTTP/1.0\r\n\r\n".utf8)).hasPrefix("HTTP/1.0 200"))
    }

    @Test func listenAddresses() {
        #expect(MetricsServer.split("127.0.0.1:9100")! == ("127.0.0.1", 9100))
        #expect(MetricsServer.split("[::]:9100")! == ("::", 9100))
        #expect(MetricsServer.split("[2001:db8::1]:0")! == ("2001:db8::1", 0))
        #expect(MetricsServer.split("::1:9100") == nil)   // IPv6 needs brackets
        #expect(MetricsServer.split("127.0.0.1") == nil)
        #expect(MetricsServer.split("127.0.0.1:70000") == nil)
        #expect(MetricsServer.split("[::1]9100") == nil)
        #expect(throws: DaemonError.self) { try MetricsServer(address: "host.example:9100", log: Logger(label: "test")) { "" } }
    }

    @Test func exposition() {
        var t = PrometheusText()
        t.family("tern_sa_bytes_total", type: "counter", help: "Bytes.")
        t.sample("tern_sa_bytes_total", [("connection", "a\"b\\c\nd"), ("spi", "c0ffee01")], 42)
        t.sample("tern_up", [], 1)
        #expect(t.text == """
            # HELP tern_sa_bytes_total Bytes.
            # TYPE tern_sa_bytes_total counter
            tern_sa_bytes_total{connection="a\\"b\\\\c\\nd",spi="c0ffee01"} 42
            tern_up 1

            """)
    }
}
