import Glibc
import Synchronization
import Testing
@testable import TernVICI

/// Collects the server's log lines.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// A socket path in a fresh directory, removed afterwards.
func withTempDirectory<T>(_ body: (String) throws -> T) throws -> T {
    var template = Array("/tmp/tern-vici-XXXXXX".utf8CString)
    guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
        throw VICIError(.io, errno: errno, "mkdtemp")
    }
    defer {
        unlink(dir + "/s.vici")
        unlink(dir + "/file")
        rmdir(dir)
    }
    return try body(dir)
}

/// A running server with an echo command, a streamed listing and two events.
func withServer<T>(configure: (VICIServer) -> Void = { _ in }, _ body: (VICIServer, String, LogLines) throws -> T) throws -> T {
    try withTempDirectory { dir in
        let path = dir + "/s.vici"
        let log = LogLines()
        let server = VICIServer(path: path) { log.append($0) }
        server.register(command: "echo") { request, _ in
            var response = request
            response.set("echoed", "yes")
            return response
        }
        server.register(event: "list-item")
        server.register(event: "ike-updown")
        server.register(command: "list-items") { request, stream in
            let count = Int(request.string("count") ?? "3") ?? 3
            for i in 0..<count { stream.send(event: "list-item", ["index": .string(String(i))]) }
            return ["success": "yes"]
        }
        configure(server)
        try server.start()
        defer { server.stop() }
        return try body(server, path, log)
    }
}

/// A client that speaks raw packets, for what VICIClient will not do (garbage, ordering).
final class RawClient {
    let fd: Int32
    init(_ path: String) throws {
        fd = try Posix.connect(path)
        var tv = timeval(tv_sec: 5, tv_usec: 0)   // a broken server fails the test, not hangs it
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
    deinit { close(fd) }
    func send(_ bytes: [UInt8]) throws { try Posix.sendAll(fd, bytes) }
    func send(_ packet: VICIPacket) throws { try send(packet.framed()) }
    /// nil once the server closed the connection.
    func receive() throws -> VICIPacket? {
        do {
            guard let frame = try Posix.readFrame(fd, maxSize: VICIMessage.maxSize) else { return nil }
            return try VICIPacket.decode(frame)
        } catch where error.code == .closed {
            return nil
        }
    }
}

func waitUntil(_ seconds: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Lock.monotonicNanos() + UInt64(seconds * 1e9)
    while Lock.monotonicNanos() < deadline {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}

@Suite(.timeLimit(.minutes(1))) struct VICIServerTests {
    @Test func commandRoundTrip() throws {
        try withServer { _, path, _ in
            let client = try VICIClient(path: path)
            defer { client.close() }
            let response = try client.call("echo", readmeMessage)
            #expect(response.section("section1") == readmeMessage.section("section1"))
            #expect(response.string("echoed") == "yes")
            // Several commands on one connection, one at a time.
            for i in 0..<20 { #expect(try client.call("echo", ["i": .string("\(i)")]).string("i") == "\(i)") }
        }
    }

    @Test func unknownCommandLeavesTheConnectionUsable() throws {
        try withServer { _, path, _ in
            let client = try VICIClient(path: path)
            #expect(throws: VICIError(.unknownCommand)) { try client.call("no-such-command") }
            #expect(try client.call("echo").string("echoed") == "yes")
            let raw = try RawClient(path)
            try raw.send(.commandRequest(name: "nope", message: VICIMessage()))
            #expect(try raw.receive() == .commandUnknown)
        }
    }

    @Test func eventRegistration() throws {
        try withServer { _, path, _ in
            let raw = try RawClient(path)
            try raw.send(.eventRegister(name: "ike-updown"))
            #expect(try raw.receive() == .eventConfirm)
            try raw.send(.eventRegister(name: "no-such-event"))
            #expect(try raw.receive() == .eventUnknown)
            try raw.send(.eventUnregister(name: "ike-updown"))
            #expect(try raw.receive() == .eventConfirm)
            try raw.send(.eventUnregister(name: "ike-updown"))   // no longer registered
            #expect(try raw.receive() == .eventUnknown)

            let client = try VICIClient(path: path)
            #expect(throws: VICIError(.unknownEvent)) { try client.listen(events: ["no-such-event"]) { _, _ in false } }
            #expect(try client.call("echo").string("echoed") == "yes")
        }
    }

    @Test func streamedEventsArriveBeforeTheResponse() throws {
        try withServer { _, path, _ in
            let client = try VICIClient(path: path)
            var seen: [String] = []
            let response = try client.streamedCall("list-items", event: "list-item", ["count": "5"]) {
                seen.append($0.string("index") ?? "?")
            }
            #expect(seen == ["0", "1", "2", "3", "4"])
            #expect(response.string("success") == "yes")
            // Unregistered again: a plain call now gets only the response.
            let raw = try RawClient(path)
            try raw.send(.commandRequest(name: "list-items", message: VICIMessage()))
            #expect(try raw.receive() == .commandResponse(["success": "yes"]))
            // Raw ordering: confirm, events, then the response.
            try raw.send(.eventRegister(name: "list-item"))
            #expect(try raw.receive() == .eventConfirm)
            try raw.send(.commandRequest(name: "list-items", message: ["count": "2"]))
            #expect(try raw.receive() == .event(name: "list-item", message: ["index": "0"]))
            #expect(try raw.receive() == .event(name: "list-item", message: ["index": "1"]))
            #expect(try raw.receive() == .commandResponse(["success": "yes"]))
        }
    }

    @Test func streamedCallOfAnUnknownCommandUnregisters() throws {
        try withServer { _, path, _ in
            let client = try VICIClient(path: path)
            #expect(throws: VICIError(.unknownCommand)) {
                _ = try client.streamedCall("nope", event: "list-item", VICIMessage()) { _ in }
            }
            #expect(throws: VICIError(.unknownEvent)) {
                _ = try client.streamedCall("list-items", event: "nope", VICIMessage()) { _ in }
            }
            #expect(try client.call("echo").string("echoed") == "yes")
        }
    }

    @Test func publishReachesOnlyRegisteredClients() throws {
        try withServer { server, path, _ in
            let a = try RawClient(path)
            let b = try RawClient(path)
            try a.send(.eventRegister(name: "ike-updown"))
            #expect(try a.receive() == .eventConfirm)
            try b.send(.eventRegister(name: "list-item"))
            #expect(try b.receive() == .eventConfirm)
            server.publish(event: "ike-updown", ["up": "yes"])
            server.publish(event: "no-such-event", ["x": "y"])
            #expect(try a.receive() == .event(name: "ike-updown", message: ["up": "yes"]))
            // b got nothing: the next packet it sees answers its own request.
            try b.send(.commandRequest(name: "echo", message: VICIMessage()))
            #expect(try b.receive() == .commandResponse(["echoed": "yes"]))
        }
    }

    @Test func listenWithTheClient() throws {
        try withServer { server, path, _ in
            final class Shared: Sendable {
                let received = Mutex<[String]>([])
                let done = Atomic<Bool>(false)
                let failure = Mutex<VICIError?>(nil)
            }
            let shared = Shared()
            let tid = try Threads.spawn(detached: false) {
                do throws(VICIError) {
                    let client = try VICIClient(path: path)
                    try client.listen(events: ["ike-updown", "list-item"]) { name, message in
                        shared.received.withLock { $0.append(name + ":" + (message.string("n") ?? "")) }
                        return shared.received.withLock { $0.count } < 3
                    }
                    // listen unregistered cleanly: the connection still answers commands.
                    _ = try client.call("echo")
                } catch {
                    shared.failure.withLock { $0 = error }
                }
                shared.done.store(true, ordering: .sequentiallyConsistent)
            }
            // The listener registers asynchronously; publish until it has heard three.
            var n = 0
            let heard = waitUntil {
                n += 1
                server.publish(event: n % 2 == 0 ? "ike-updown" : "list-item", ["n": .string("\(n)")])
                return shared.done.load(ordering: .sequentiallyConsistent)
            }
            Threads.join(tid)
            #expect(heard)
            #expect(shared.failure.withLock { $0 } == nil)
            #expect(shared.received.withLock { $0.count } == 3)
        }
    }

    @Test func garbageClosesOnlyThatClient() throws {
        try withServer { _, path, log in
            let good = try VICIClient(path: path)
            #expect(try good.call("echo").string("echoed") == "yes")
            let garbage: [[UInt8]] = [
                [0, 0, 0, 3, 9, 9, 9],                          // bad packet type
                [0xFF, 0xFF, 0xFF, 0xFF],                       // 4 GiB length
                [0, 8, 0, 1, 0],                                // over 512 KiB
                [0, 0, 0, 0],                                   // empty packet
                VICIPacket.commandResponse(VICIMessage()).framed(),   // a server-only packet
                [0, 0, 0, 6, 0, 3, 97, 98, 99, 2],              // request with an unbalanced section end
                [0, 0, 0, 4, 0, 2, 0x80, 0x81],                 // non-printable command name
            ]
            for (i, bytes) in garbage.enumerated() {
                let before = log.all.count
                let bad = try RawClient(path)
                try bad.send(bytes)
                #expect(try bad.receive() == nil, "garbage \(i) did not close the connection")
                #expect(waitUntil { log.all.count == before + 1 }, "garbage \(i): \(log.all)")
                #expect(try good.call("echo", ["i": .string("\(i)")]).string("i") == "\(i)")
            }
            #expect(log.all.allSatisfy { $0.contains("closing") })
        }
    }

    @Test func aClientThatStopsReadingIsDroppedWithoutStallingOthers() throws {
        try withServer(configure: { $0.maxQueuedBytes = 64 * 1024 }) { server, path, log in
            let stuck = try RawClient(path)
            try stuck.send(.eventRegister(name: "ike-updown"))
            #expect(try stuck.receive() == .eventConfirm)
            let good = try VICIClient(path: path)
            let payload: VICIMessage = ["blob": .value([UInt8](repeating: 0x5A, count: 4096))]
            let start = Lock.monotonicNanos()
            for _ in 0..<1000 { server.publish(event: "ike-updown", payload) }   // 4 MB nobody reads
            #expect(Lock.monotonicNanos() - start < 2_000_000_000, "publish blocked")
            #expect(try good.call("echo").string("echoed") == "yes")
            #expect(waitUntil { log.all.contains { $0.contains("unread, closing") } }, "\(log.all)")
            #expect(server.stats.slowSubscriberDrops == 1)
            #expect(waitUntil { server.stats.currentClients == 1 }, "\(server.stats)")
        }
    }

    @Test func aClientVanishingMidStreamDoesNotKillTheServer() throws {
        // Writing to a closed peer must be EPIPE, never SIGPIPE (which would end this process).
        try withServer { server, path, _ in
            for _ in 0..<5 {
                let raw = try RawClient(path)
                try raw.send(.eventRegister(name: "list-item"))
                #expect(try raw.receive() == .eventConfirm)
                try raw.send(.commandRequest(name: "list-items", message: ["count": "2000"]))
            }   // each RawClient closes here, mid-stream
            server.publish(event: "list-item", ["late": "yes"])
            let client = try VICIClient(path: path)
            #expect(try client.call("echo").string("echoed") == "yes")
        }
    }

    @Test func unencodableResponseBecomesAnError() throws {
        try withServer(configure: { server in
            server.register(command: "bad") { _, _ in
                VICIMessage(entries: [.init(key: "x", element: "1"), .init(key: "x", element: "2")])
            }
        }) { _, path, log in
            let client = try VICIClient(path: path)
            let response = try client.call("bad")
            #expect(response.string("success") == "no")
            #expect(response.string("errmsg")?.contains("repeated") == true)
            #expect(log.all.count == 1)
        }
    }

    @Test func socketFileModeAndLifecycle() throws {
        try withServer { server, path, _ in
            var st = stat()
            #expect(lstat(path, &st) == 0)
            #expect(st.st_mode & S_IFMT == S_IFSOCK)
            #expect(st.st_mode & 0o7777 == 0o600)
            server.stop()
            #expect(lstat(path, &st) != 0, "socket file left behind")
            #expect(throws: VICIError(.socketMissing)) { try VICIClient(path: path) }
            server.stop()   // idempotent
        }
    }

    @Test func socketGroupAndMode() throws {
        guard let entry = getgrnam("daemon") else { return }
        let gid = entry.pointee.gr_gid
        try withTempDirectory { dir in
            let path = dir + "/s.vici"
            let server = VICIServer(path: path, mode: 0o660, group: "daemon") { _ in }
            try server.start()
            defer { server.stop() }
            var st = stat()
            #expect(lstat(path, &st) == 0)
            #expect(st.st_mode & 0o7777 == 0o660)
            #expect(st.st_gid == gid)
        }
        try withTempDirectory { dir in
            let server = VICIServer(path: dir + "/s.vici", group: "no-such-group-tern") { _ in }
            #expect(throws: VICIError.self) { try server.start() }
        }
    }

    @Test func staleSocketIsReplacedButLiveOnesAndFilesAreNot() throws {
        try withTempDirectory { dir in
            let path = dir + "/s.vici"
            // A stale socket file: bound, then its owner went away.
            let fd = try Posix.streamSocket()
            #expect(try Posix.socketAddressed(path, bind, fd: fd) == 0)
            close(fd)
            #expect(throws: VICIError(.connectionRefused)) { try VICIClient(path: path) }
            let first = VICIServer(path: path) { _ in }
            first.register(command: "echo") { r, _ in r }
            try first.start()
            defer { first.stop() }
            #expect(throws: VICIError(.alreadyStarted)) { try first.start() }
            // A second server must not steal a live socket.
            let second = VICIServer(path: path) { _ in }
            #expect(throws: VICIError(.addressInUse)) { try second.start() }
            #expect(try VICIClient(path: path).call("echo", ["a": "b"]) == ["a": "b"])
            // Nor delete something that is not a socket.
            let file = dir + "/file"
            let f = open(file, O_CREAT | O_WRONLY, 0o644)
            close(f)
            let third = VICIServer(path: file) { _ in }
            #expect(throws: VICIError(.addressInUse)) { try third.start() }
            var st = stat()
            #expect(lstat(file, &st) == 0)
        }
    }

    @Test func clientErrorsAreSpecific() throws {
        #expect(throws: VICIError(.socketMissing)) { try VICIClient(path: "/tmp/tern-vici-does-not-exist/s") }
        #expect(throws: VICIError(.pathTooLong)) { try VICIClient(path: "/tmp/" + String(repeating: "x", count: 200)) }
        try withServer { _, path, _ in
            let client = try VICIClient(path: path)
            client.close()
            #expect(throws: VICIError(.closed)) { try client.call("echo") }
            let other = try VICIClient(path: path)
            #expect(throws: VICIError(.invalidName)) { try other.call("bad\nname") }
            #expect(try other.call("echo").string("echoed") == "yes")
        }
    }

    @Test func serverGoingAwayEndsAListen() throws {
        try withServer { server, path, _ in
            let client = try VICIClient(path: path)
            let raw = try RawClient(path)
            try raw.send(.eventRegister(name: "ike-updown"))
            #expect(try raw.receive() == .eventConfirm)
            let stopper = try Threads.spawn(detached: false) {
                usleep(100_000)
                server.stop()
            }
            #expect(throws: VICIError(.closed)) { try client.listen(events: ["ike-updown"]) { _, _ in true } }
            #expect(try raw.receive() == nil)
            Threads.join(stopper)
        }
    }
    // MARK: Limits and abusive clients

    @Test func aFullTableOfIdleClientsStillAdmitsAnOperator() throws {
        try withServer { server, path, log in
            #expect(server.maxClients == 256)
            var idle: [RawClient] = []
            defer { idle.removeAll() }
            for _ in 0..<300 { idle.append(try RawClient(path)) }   // connect, send nothing
            #expect(waitUntil { server.stats.acceptedTotal == 300 }, "\(server.stats)")
            #expect(server.stats.currentClients == 256)

            let start = Lock.monotonicNanos()
            let operatorClient = try VICIClient(path: path)
            let response = try operatorClient.call("echo", ["who": "operator"])
            let elapsed = Lock.monotonicNanos() - start
            operatorClient.close()
            #expect(response.string("who") == "operator")
            #expect(elapsed < 100_000_000, "the operator's command took \(elapsed / 1_000_000) ms")

            // The clients idle longest made room, oldest first; nobody was refused.
            #expect(try idle[0].receive() == nil)
            #expect(try idle[44].receive() == nil)
            let stats = server.stats
            #expect(stats.evicted == 45)
            #expect(stats.refusedTotal == 0)
            #expect(stats.acceptedTotal == 301)
            #expect(stats.currentClients <= 256)
            #expect(log.all.filter { $0.contains("evicting") }.count < 45, "eviction lines not rate-limited")
        }
    }

    @Test func aClientStuckInsideAFrameIsClosed() throws {
        try withServer(configure: { $0.partialMessageTimeoutSeconds = 0.3 }) { server, path, log in
            let request = VICIPacket.commandRequest(name: "echo", message: ["a": "b"]).framed()
            // Slow but within the limit: served.
            let slow = try RawClient(path)
            try slow.send(Array(request.prefix(2)))
            usleep(100_000)
            try slow.send(Array(request.dropFirst(2)))
            #expect(try slow.receive() == .commandResponse(["a": "b", "echoed": "yes"]))

            let start = Lock.monotonicNanos()
            let inLength = try RawClient(path)
            try inLength.send([0, 0])                 // half the length
            let inBody = try RawClient(path)
            try inBody.send([0, 0, 0, 10, 1])         // the length and one byte of ten
            #expect(try inLength.receive() == nil)    // the server closed it (bounded by SO_RCVTIMEO)
            #expect(try inBody.receive() == nil)
            let elapsed = Lock.monotonicNanos() - start
            #expect(elapsed >= 250_000_000 && elapsed < 3_000_000_000, "closed after \(elapsed / 1_000_000) ms")
            #expect(server.stats.closedForPartialMessage == 2)
            #expect(server.stats.closedForIdle == 0)
            #expect(log.all.filter { $0.contains("frame still incomplete") }.count == 2, "\(log.all)")
            // The slow client is still served.
            try slow.send(request)
            #expect(try slow.receive() == .commandResponse(["a": "b", "echoed": "yes"]))
        }
    }

    @Test func anIdleClientIsClosedButAListenerStays() throws {
        try withServer(configure: { $0.idleTimeoutSeconds = 0.3 }) { server, path, log in
            let listener = try RawClient(path)
            try listener.send(.eventRegister(name: "ike-updown"))
            #expect(try listener.receive() == .eventConfirm)
            let commander = try RawClient(path)   // one command, then silence
            try commander.send(.commandRequest(name: "echo", message: VICIMessage()))
            #expect(try commander.receive() == .commandResponse(["echoed": "yes"]))

            let start = Lock.monotonicNanos()
            let idle = try RawClient(path)
            #expect(try idle.receive() == nil)
            let elapsed = Lock.monotonicNanos() - start
            #expect(elapsed >= 250_000_000 && elapsed < 3_000_000_000, "closed after \(elapsed / 1_000_000) ms")
            #expect(try commander.receive() == nil)
            // The listener has been silent longer than the other two; give it another period.
            #expect(!waitUntil(0.6) { server.stats.closedForIdle > 2 }, "\(server.stats)")
            server.publish(event: "ike-updown", ["up": "yes"])
            #expect(try listener.receive() == .event(name: "ike-updown", message: ["up": "yes"]))
            var stats = server.stats
            #expect(stats.closedForIdle == 2)
            #expect(waitUntil { server.stats.currentClients == 1 }, "\(server.stats)")
            #expect(log.all.filter { $0.contains("no complete frame for") }.count == 2, "\(log.all)")

            // Unregistered, it is an ordinary client again.
            try listener.send(.eventUnregister(name: "ike-updown"))
            #expect(try listener.receive() == .eventConfirm)
            #expect(try listener.receive() == nil)
            stats = server.stats
            #expect(stats.closedForIdle == 3)
            #expect(stats.evicted == 0 && stats.refusedTotal == 0 && stats.closedForPartialMessage == 0)
        }
    }

    @Test func aFullTableEvictsAStuckClientAndRefusesOnlyWhenAllAreActive() throws {
        try withServer(configure: { $0.maxClients = 2 }) { server, path, log in
            let a = try VICIClient(path: path)
            #expect(try a.call("echo").string("echoed") == "yes")
            let partial = try RawClient(path)
            try partial.send([0, 0, 0])
            #expect(waitUntil { server.stats.currentClients == 2 })
            // Full: the newcomer evicts the client with the incomplete frame, not `a`.
            let b = try VICIClient(path: path)
            #expect(try b.call("echo").string("echoed") == "yes")
            #expect(try partial.receive() == nil)
            #expect(try a.call("echo").string("echoed") == "yes")
            #expect(server.stats.evicted == 1)
            // Full of clients that completed commands: refused.
            let c = try VICIClient(path: path)
            #expect(throws: VICIError.self) { try c.call("echo") }
            var stats = server.stats
            #expect(stats.refusedTotal == 1)
            #expect(stats.acceptedTotal == 3)
            #expect(stats.currentClients == 2)
            #expect(log.all.contains { $0.contains("refusing a client") }, "\(log.all)")
            // A slot freed is a slot for the next one.
            a.close()
            #expect(waitUntil { server.stats.currentClients == 1 })
            let d = try VICIClient(path: path)
            #expect(try d.call("echo").string("echoed") == "yes")
            stats = server.stats
            #expect(stats.acceptedTotal == 4)
            #expect(stats.refusedTotal == 1)
            #expect(stats.evicted == 1)
        }
    }

    @Test func abusiveClientsCostAFewLogLinesAndASummary() throws {
        try withServer(configure: { $0.idleTimeoutSeconds = 0.2 }) { server, path, log in
            var idle: [RawClient] = []
            defer { idle.removeAll() }
            for _ in 0..<40 { idle.append(try RawClient(path)) }
            #expect(waitUntil { server.stats.closedForIdle == 40 }, "\(server.stats)")
            // The summary comes with the accept thread's next tick, a second at most.
            #expect(waitUntil { log.all.contains { $0.contains("not logged") } }, "\(log.all)")
            let lines = log.all.filter { $0.contains("no complete frame for") }
            let summarized = log.all.filter { $0.contains("not logged") }.map { line in
                // "N more such client line(s) not logged (N idle)"
                Int(line.split(separator: "(").last!.split(separator: " ").first!) ?? 0
            }.reduce(0, +)
            #expect(lines.count <= 15, "\(lines.count) lines for 40 idle clients")
            #expect(lines.count + summarized == 40, "\(log.all)")
        }
    }

    @Test func logLimiterLetsAFewLinesThroughPerSecond() {
        let limiter = LogLimiter(perWindow: 3, windowNanos: 1_000)
        var out: [String] = []
        for i in 0..<10 { out += limiter.admit("idle \(i)", kind: "idle", now: 5_000 + UInt64(i)) }
        out += limiter.admit("partial", kind: "partial", now: 5_010)
        #expect(out == ["idle 0", "idle 1", "idle 2"])
        #expect(limiter.flush(now: 5_500) == nil)   // window not over yet
        #expect(limiter.flush(now: 6_000) == "8 more such client line(s) not logged (7 idle, 1 partial)")
        #expect(limiter.flush(now: 7_000) == nil)
        // A new window lets lines through again.
        #expect(limiter.admit("later", kind: "idle", now: 7_000) == ["later"])
    }
}
