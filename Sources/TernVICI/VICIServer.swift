#if canImport(Glibc)
import Glibc
#endif

// VICI server: strongSwan's vici_socket + vici_dispatcher, as a few plain threads.
//
//   accept thread   polls the listening socket and a wake pipe; accepts and starts a client
//                   (evicting an idle one if the table is full); ticks once a second to log
//                   the summary of rate-limited lines
//   reader thread   one per client: polls for frames with a deadline, decodes, runs command
//                   handlers on itself, queues the answers; owns the client's fd, closes it last
//   writer thread   one per client: drains that client's send queue (VICIConnection)
//
// `lock` guards commands, events, clients (with their slot bookkeeping), limits, counters and
// the lifecycle; a connection's own lock guards its queue and registrations. The two are never
// held together: publish() copies the client list under `lock` and queues outside it, and an
// eviction picks its victim under `lock` and closes it outside.
//
// A client that sends anything malformed (bad frame, oversized length, undecodable packet, a
// packet type only servers send) is closed with one log line; nothing it does reaches
// another client or the daemon. A client that holds a slot without using it (no complete frame
// for idleTimeoutSeconds, unless it listens for events; a frame left incomplete for
// partialMessageTimeoutSeconds) is closed too, and a full table makes room for a newcomer by
// evicting the client stuck longest, so idle or slow clients cannot lock operators out.

/// Threaded VICI server on a Unix socket: one accept thread plus two threads per client
/// (control plane only; up to `maxClients` clients).
public final class VICIServer: @unchecked Sendable {
    public typealias CommandHandler = @Sendable (_ request: VICIMessage, _ stream: VICIEventSink) -> VICIMessage

    public let path: String
    public let mode: UInt16
    public let group: String?
    public let maxMessageSize: Int
    private let log: @Sendable (String) -> Void

    private struct Limits {
        var maxQueuedBytes: Int
        var sendTimeoutSeconds = 10
        var maxClients = 256
        var idleTimeoutSeconds = 60.0
        var partialMessageTimeoutSeconds = 5.0
    }
    private var limits: Limits

    /// Unsent bytes a client may pile up before `publish` drops it as not reading (counted in
    /// `stats.slowSubscriberDrops`). Applies to clients accepted afterwards.
    public var maxQueuedBytes: Int {
        get { lock.withLock { limits.maxQueuedBytes } }
        set { lock.withLock { limits.maxQueuedBytes = newValue } }
    }
    /// A client whose socket accepts nothing for this long is dropped. Applies to clients
    /// accepted afterwards.
    public var sendTimeoutSeconds: Int {
        get { lock.withLock { limits.sendTimeoutSeconds } }
        set { lock.withLock { limits.sendTimeoutSeconds = newValue } }
    }
    /// Clients served at once. A newcomer to a full table evicts the client that has held its
    /// slot longest without ever completing a frame, or with a frame left incomplete; if every
    /// client is doing something, the newcomer is refused (closed at once).
    public var maxClients: Int {
        get { lock.withLock { limits.maxClients } }
        set { lock.withLock { limits.maxClients = newValue } }
    }
    /// A client that completes no frame for this long is closed, unless it is registered for
    /// an event (a listener; if it stops reading, `maxQueuedBytes` and the send timeout drop it).
    /// Counted from its connection, its last frame or the end of its last command.
    public var idleTimeoutSeconds: Double {
        get { lock.withLock { limits.idleTimeoutSeconds } }
        set { lock.withLock { limits.idleTimeoutSeconds = newValue } }
    }
    /// A client that starts a frame (a byte of its length or of its body) and does not
    /// complete it within this long is closed.
    public var partialMessageTimeoutSeconds: Double {
        get { lock.withLock { limits.partialMessageTimeoutSeconds } }
        set { lock.withLock { limits.partialMessageTimeoutSeconds = newValue } }
    }

    /// Counters for metrics, read under the server's lock.
    public var stats: VICIServerStats {
        lock.withLock {
            var snapshot = counters
            snapshot.currentClients = clients.count - evictedClosing
            return snapshot
        }
    }

    private struct Running {
        var listenFD: Int32
        var wakeRead: Int32
        var wakeWrite: Int32
        var acceptThread: pthread_t
        var device: UInt64
        var inode: UInt64
    }
    private enum State { case idle, starting, running(Running), stopped }

    /// A client's slot: the connection and what the eviction choice needs (written by the
    /// client's reader thread, read by the accept thread, both under `lock`).
    private struct Client {
        let connection: VICIConnection
        let acceptedAt: UInt64
        var completedFrame = false
        var partialSince: UInt64?
        var evicted = false

        /// Since when the slot has been wasted: from the connection while the client never
        /// completed a frame, else from the start of a frame it leaves incomplete. nil while
        /// the client is between frames after having sent one, or inside a command.
        var stuckSince: UInt64? { evicted ? nil : completedFrame ? partialSince : acceptedAt }
    }

    private let lock = Lock()
    private var state = State.idle
    private var commands: [String: CommandHandler] = [:]
    private var events: Set<String> = []
    private var clients: [UInt64: Client] = [:]
    /// Evicted clients still in `clients` until their reader exits; they hold no slot.
    private var evictedClosing = 0
    private var nextClientID: UInt64 = 1
    private var counters = VICIServerStats()
    /// For the lines one per abusive client (idle, partial, evicted, refused, slow).
    private let clientLog = LogLimiter()

    /// - Parameters:
    ///   - mode: permissions of the socket file; 0600 keeps it to root (swanctl's default).
    ///   - group: if set, the socket file's group (use with mode 0660).
    ///   - maxMessageSize: the largest frame read or sent; strongSwan's limit by default.
    ///   - log: one line per notable event (a client dropped, a handler's bad response).
    public init(path: String, mode: UInt16 = 0o600, group: String? = nil, maxMessageSize: Int = 512 * 1024,
                log: @escaping @Sendable (String) -> Void) {
        self.path = path
        self.mode = mode
        self.group = group
        self.maxMessageSize = maxMessageSize
        self.limits = Limits(maxQueuedBytes: max(16 * maxMessageSize, 1 << 20))
        self.log = log
    }

    /// Adds (or replaces) the handler for `command`. The handler runs on the requesting
    /// client's thread; it may stream events through the sink before returning its response.
    public func register(command: String, handler: @escaping CommandHandler) {
        lock.withLock { commands[command] = handler }
    }

    /// Declares an event clients may register for (EVENT_CONFIRM); other names get
    /// EVENT_UNKNOWN. Streamed commands need their event declared too (list-sas → "list-sa").
    public func register(event: String) {
        lock.withLock { _ = events.insert(event) }
    }

    // MARK: Lifecycle

    /// Removes a stale socket file, binds with `mode` (and `group`), listens, and returns
    /// once the accept thread runs. Fails with `.addressInUse` if a live server answers on
    /// `path` or the path is something other than a socket.
    public func start() throws(VICIError) {
        try lock.withLock { () throws(VICIError) in
            guard case .idle = state else { throw VICIError(.alreadyStarted, path) }
            state = .starting
        }
        do {
            let running = try bindAndListen()
            lock.withLock { state = .running(running) }
        } catch {
            lock.withLock { state = .idle }
            throw error
        }
    }

    private func bindAndListen() throws(VICIError) -> Running {
        _ = try Posix.unixAddress(path)
        try removeStaleSocket()
        let fd = try Posix.streamSocket()
        var bound = false
        do throws(VICIError) {
            // bind() creates the file with 0777 & ~umask: narrow the umask so the socket is
            // never reachable with wider permissions than `mode`, not even for an instant.
            // (umask is per process; strongSwan's stream service does the same.)
            let old = umask(mode_t(~mode & 0o777))
            let rc = try Posix.socketAddressed(path, Glibc.bind, fd: fd)
            let e = errno
            umask(old)
            guard rc == 0 else {
                switch e {
                case EADDRINUSE: throw VICIError(.addressInUse, errno: e, path)
                case EACCES, EPERM: throw VICIError(.permissionDenied, errno: e, "bind \(path): \(Posix.message(e))")
                default: throw VICIError(.io, errno: e, "bind \(path): \(Posix.message(e))")
                }
            }
            bound = true
            guard chmod(path, mode_t(mode)) == 0 else {
                throw VICIError(.io, errno: errno, "chmod \(path): \(Posix.message(errno))")
            }
            if let group {
                let gid = try Self.groupID(group)
                guard chown(path, uid_t.max, gid) == 0 else {
                    throw VICIError(.io, errno: errno, "chown \(path) to group \(group): \(Posix.message(errno))")
                }
            }
            // A backlog for bursts of clients (a few hundred swanctl calls from a script).
            guard listen(fd, 256) == 0 else { throw VICIError(.io, errno: errno, "listen: \(Posix.message(errno))") }
            var st = stat()
            guard lstat(path, &st) == 0 else { throw VICIError(.io, errno: errno, "stat \(path): \(Posix.message(errno))") }
            var pipeFDs: [Int32] = [-1, -1]
            let pairType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            guard socketpair(AF_UNIX, pairType, 0, &pipeFDs) == 0 else {
                throw VICIError(.io, errno: errno, "socketpair: \(Posix.message(errno))")
            }
            let wakeRead = pipeFDs[0]
            let tid: pthread_t
            do throws(VICIError) {
                tid = try Threads.spawn(detached: false) { [self] in acceptLoop(listenFD: fd, wakeFD: wakeRead) }
            } catch {
                Glibc.close(pipeFDs[0])
                Glibc.close(pipeFDs[1])
                throw error
            }
            return Running(listenFD: fd, wakeRead: wakeRead, wakeWrite: pipeFDs[1], acceptThread: tid,
                           device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        } catch {
            Glibc.close(fd)
            if bound { unlink(path) }
            throw error
        }
    }

    /// A socket file nobody answers on is left over from a crash: remove it. Anything else at
    /// the path (a live server, a regular file) is not ours to delete.
    private func removeStaleSocket() throws(VICIError) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw VICIError(.addressInUse, "\(path) exists and is not a socket")
        }
        do throws(VICIError) {
            let probe = try Posix.connect(path)
            Glibc.close(probe)
            throw VICIError(.addressInUse, "a server is already listening on \(path)")
        } catch {
            guard error.code == .connectionRefused else { throw error }
            unlink(path)
        }
    }

    private static func groupID(_ name: String) throws(VICIError) -> gid_t {
        var entry = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let rc = getgrnam_r(name, &entry, &buffer, buffer.count, &result)
        guard rc == 0, result != nil else {
            throw VICIError(.io, errno: rc, "no group named '\(name)'")
        }
        return entry.gr_gid
    }

    /// Closes the listener and every client, and removes the socket file (if it is still the
    /// one we bound). Waits up to two seconds for clients' handlers to return (so calling it
    /// from a handler returns after that wait). Idempotent; a stopped server cannot restart.
    public func stop() {
        let stopping: (Running, [VICIConnection])? = lock.withLock {
            guard case .running(let running) = state else {
                if case .idle = state { state = .stopped }
                return nil
            }
            state = .stopped
            return (running, clients.values.map(\.connection))
        }
        guard let (running, connections) = stopping else { return }
        var one: UInt8 = 1
        _ = write(running.wakeWrite, &one, 1)
        Threads.join(running.acceptThread)
        Glibc.close(running.listenFD)
        Glibc.close(running.wakeRead)
        Glibc.close(running.wakeWrite)
        var st = stat()
        if lstat(path, &st) == 0, UInt64(st.st_dev) == running.device, UInt64(st.st_ino) == running.inode {
            unlink(path)
        }
        for connection in connections { connection.close() }
        let deadline = Lock.monotonicNanos() + 2_000_000_000
        let left = lock.withLock {
            while !clients.isEmpty && lock.wait(until: deadline) {}
            return clients.count
        }
        if let summary = clientLog.flush(now: .max) { log(summary) }
        if left > 0 { log("stopped with \(left) client(s) still inside a command handler") }
    }

    // MARK: Events

    /// Whether any client is registered for `event`: lets a publisher skip building a message
    /// nobody would receive (the daemon reports an event for every SA change).
    public func hasListeners(for event: String) -> Bool {
        lock.withLock { clients.values.contains { $0.connection.isRegistered(for: event) } }
    }

    /// Sends `event` to every client registered for it. Never blocks: a client that lets
    /// `maxQueuedBytes` pile up unread is dropped instead.
    public func publish(event: String, _ message: VICIMessage) {
        let targets = lock.withLock { clients.values.map(\.connection) }.filter { $0.isRegistered(for: event) }
        guard !targets.isEmpty,
              let frame = Self.eventFrame(event, message, maxMessageSize: maxMessageSize, log: log) else { return }
        for connection in targets where connection.enqueue(frame, wait: false, event: event) == .overflow {
            lock.withLock { counters.slowSubscriberDrops += 1 }
            logClient("client \(connection.id): over \(connection.maxQueuedBytes) bytes of events unread, closing", kind: "slow")
        }
    }

    /// The framed EVENT packet, or nil (with a log line) if the message cannot be encoded.
    static func eventFrame(_ event: String, _ message: VICIMessage, maxMessageSize: Int,
                           log: (@Sendable (String) -> Void)?) -> [UInt8]? {
        do throws(VICIError) {
            try VICIMessage.validateName(event)
            try message.validate(maxSize: maxMessageSize - 2 - event.utf8.count)
        } catch {
            log?("event '\(String(decoding: event.utf8.prefix(64), as: UTF8.self))' not sent: \(error)")
            return nil
        }
        return VICIPacket.event(name: event, message: message).framed()
    }

    // MARK: Clients

    private func acceptLoop(listenFD: Int32, wakeFD: Int32) {
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            // The tick logs the summary of rate-limited lines when no further line brings it.
            let ready = poll(&fds, 2, 1000)
            if ready < 0 {
                if errno == EINTR { continue }
                log("accept loop: poll: \(Posix.message(errno)); no longer accepting")
                return
            }
            if let summary = clientLog.flush() { log(summary) }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let fd = accept(listenFD, nil, nil)
            guard fd >= 0 else {
                let e = errno
                switch e {
                case EINTR, EAGAIN, ECONNABORTED, EPROTO: continue
                default:
                    // EMFILE and friends: say so, and don't spin while the condition lasts.
                    log("accept: \(Posix.message(e))")
                    usleep(100_000)
                    continue
                }
            }
            // No accept4 in Swift's Glibc module; ternd does not exec while serving.
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            adopt(fd)
        }
    }

    private enum Admission {
        case admitted(VICIConnection, acceptedAt: UInt64, sendTimeout: Int, evicted: (VICIConnection, String)?)
        case refused(String)
    }

    private func adopt(_ fd: Int32) {
        let now = Lock.monotonicNanos()
        let admission: Admission = lock.withLock {
            guard case .running = state else {
                counters.refusedTotal += 1
                return .refused("refusing a client: server stopping")
            }
            var evicted: (VICIConnection, String)?
            if clients.count - evictedClosing >= limits.maxClients {
                guard let (victim, stuckSince) = evictionCandidateLocked(), let entry = clients[victim] else {
                    counters.refusedTotal += 1
                    return .refused("refusing a client: \(limits.maxClients) clients connected, all of them active")
                }
                let why = entry.partialSince != nil ? "with a frame left incomplete" : "without a complete frame"
                clients[victim]?.evicted = true
                evictedClosing += 1
                counters.evicted += 1
                evicted = (entry.connection, "client \(victim): \(limits.maxClients) clients connected, evicting this one "
                                             + "(\(Self.seconds(now > stuckSince ? now - stuckSince : 0)) \(why)) for a newcomer")
            }
            let connection = VICIConnection(id: nextClientID, fd: fd, maxQueuedBytes: limits.maxQueuedBytes)
            nextClientID += 1
            clients[connection.id] = Client(connection: connection, acceptedAt: now)
            counters.acceptedTotal += 1
            return .admitted(connection, acceptedAt: now, sendTimeout: limits.sendTimeoutSeconds, evicted: evicted)
        }
        guard case .admitted(let connection, let acceptedAt, let sendTimeout, let evicted) = admission else {
            if case .refused(let line) = admission { logClient(line, kind: "refused") }
            Glibc.close(fd)
            return
        }
        if let (victim, line) = evicted {
            // Its reader sees EOF and exits without a line of its own; the slot is free already.
            victim.close()
            logClient(line, kind: "evicted")
        }
        Posix.setSendTimeout(fd, seconds: sendTimeout)
        let log = self.log
        let id = connection.id
        do throws(VICIError) {
            let writer = try Threads.spawn(detached: false) {
                connection.writeLoop { error in log("client \(id): \(error), closing") }
            }
            do throws(VICIError) {
                _ = try Threads.spawn(detached: true) { [self] in serve(connection, acceptedAt: acceptedAt, writer: writer) }
            } catch {
                connection.close()
                Threads.join(writer)
                throw error
            }
        } catch {
            log("client \(id): cannot start its threads: \(error)")
            connection.releaseFD()
            lock.withLock {
                counters.acceptedTotal -= 1
                counters.refusedTotal += 1
            }
            forget(connection)
        }
    }

    /// The client that has wasted its slot longest (see `Client.stuckSince`), or nil if every
    /// client is between commands, inside one, or already evicted. O(clients), only when full.
    private func evictionCandidateLocked() -> (id: UInt64, stuckSince: UInt64)? {
        var best: (id: UInt64, stuckSince: UInt64)?
        for (id, client) in clients {
            guard let since = client.stuckSince, since < best?.stuckSince ?? .max else { continue }
            best = (id, since)
        }
        return best
    }

    private func forget(_ connection: VICIConnection) {
        lock.withLock {
            if clients.removeValue(forKey: connection.id)?.evicted == true { evictedClosing -= 1 }
            lock.broadcast()
        }
    }

    /// A line about one client's misbehaviour, rate-limited: a crowd of such clients costs a
    /// few lines a second and a count.
    private func logClient(_ line: String, kind: String) {
        for line in clientLog.admit(line, kind: kind) { log(line) }
    }

    /// "1.5 s", without Foundation.
    static func seconds(_ nanos: UInt64) -> String {
        let tenths = (nanos + 50_000_000) / 100_000_000
        return "\(tenths / 10).\(tenths % 10) s"
    }

    private static func nanos(_ seconds: Double) -> UInt64 {
        // Clamped so a deadline never overflows (1e9 s is "never").
        seconds.isNaN ? 0 : UInt64(min(max(seconds, 0), 1e9) * 1e9)
    }

    /// The reader thread of one client.
    private func serve(_ connection: VICIConnection, acceptedAt: UInt64, writer: pthread_t) {
        if readLoop(connection, idleSince: acceptedAt) {
            connection.drain()
        } else {
            connection.close()
        }
        Threads.join(writer)
        connection.releaseFD()
        forget(connection)
    }

    /// Returns true at the client's clean EOF, false when the connection must close at once.
    private func readLoop(_ connection: VICIConnection, idleSince start: UInt64) -> Bool {
        let id = connection.id
        var idleSince = start
        while true {
            let frame: [UInt8]
            do throws(ReadEnd) {
                guard let next = try nextFrame(connection, idleSince: idleSince) else { return true }
                frame = next
            } catch {
                switch error {
                case .idle(let nanos):
                    lock.withLock { counters.closedForIdle += 1 }
                    logClient("client \(id): no complete frame for \(Self.seconds(nanos)), closing", kind: "idle")
                case .partial(let nanos):
                    lock.withLock { counters.closedForPartialMessage += 1 }
                    logClient("client \(id): frame still incomplete after \(Self.seconds(nanos)), closing", kind: "partial")
                case .failed(let error):
                    // A shutdown of ours, or the peer resetting, needs no line of its own.
                    if connection.isOpen && error.code != .closed { log("client \(id): \(error), closing") }
                }
                return false
            }
            let packet: VICIPacket
            do throws(VICIError) {
                packet = try VICIPacket.decode(frame, maxSize: maxMessageSize)
            } catch {
                log("client \(id): malformed packet: \(error), closing")
                return false
            }
            switch packet {
            case .commandRequest(let name, let request):
                run(command: name, request, for: connection)
            case .eventRegister(let name):
                let known = lock.withLock { events.contains(name) }
                connection.setRegistration(name, registered: true, known: known)
            case .eventUnregister(let name):
                connection.setRegistration(name, registered: false, known: true)
            case .commandResponse, .commandUnknown, .eventConfirm, .eventUnknown, .event:
                log("client \(id): sent \(packet.typeName), which only servers send, closing")
                return false
            }
            idleSince = Lock.monotonicNanos()
        }
    }

    private enum ReadEnd: Error {
        case idle(UInt64)       // nanoseconds without a complete frame
        case partial(UInt64)    // nanoseconds since the incomplete frame's first byte
        case failed(VICIError)
    }

    /// Reads one length-framed packet, never waiting past the client's idle or partial-frame
    /// deadline; nil on a clean EOF between frames. The length is checked before anything is
    /// allocated. Keeps the client's slot bookkeeping (partial, completed) up to date.
    private func nextFrame(_ connection: VICIConnection, idleSince: UInt64) throws(ReadEnd) -> [UInt8]? {
        let fd = connection.fd
        let (idleTimeout, partialTimeout) = lock.withLock {
            (Self.nanos(limits.idleTimeoutSeconds), Self.nanos(limits.partialMessageTimeoutSeconds))
        }
        var header = [UInt8](repeating: 0, count: 4)
        var body: [UInt8] = []
        var length = -1                 // known once the header is in
        var got = 0                     // bytes of the header, then of the body
        var partialSince: UInt64 = 0
        while length < 0 || got < length {
            let partial = length >= 0 || got > 0
            let now = Lock.monotonicNanos()
            let deadline: UInt64
            if partial {
                deadline = partialSince + partialTimeout
            } else if connection.hasRegistrations {
                // A listener is exempt; only a frame of its own can unregister it, so this
                // just re-checks now and then.
                deadline = now + idleTimeout
            } else {
                deadline = idleSince + idleTimeout
            }
            if now >= deadline {
                throw partial ? .partial(now - partialSince) : .idle(now - idleSince)
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(clamping: (deadline - now + 999_999) / 1_000_000))
            if ready < 0 {
                let e = errno
                if e == EINTR { continue }
                throw .failed(VICIError(.io, errno: e, "poll: \(Posix.message(e))"))
            }
            if ready == 0 { continue }   // deadline checked above
            let n = length < 0
                ? header.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, 4 - got, 0) }
                : body.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, length - got, 0) }
            if n == 0 {
                if !partial { return nil }
                throw .failed(VICIError(.truncated, "connection closed inside a frame"))
            }
            if n < 0 {
                let e = errno
                if e == EINTR || e == EAGAIN || e == EWOULDBLOCK { continue }
                throw .failed(VICIError(e == ECONNRESET ? .closed : .io, errno: e, "recv: \(Posix.message(e))"))
            }
            if !partial {
                let first = Lock.monotonicNanos()   // not `now`: the poll may have waited long
                partialSince = first
                lock.withLock { clients[connection.id]?.partialSince = first }
            }
            got += n
            if length < 0 && got == 4 {
                length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
                guard length <= maxMessageSize else {
                    throw .failed(VICIError(.oversized, "frame of \(length) bytes, limit \(maxMessageSize)"))
                }
                body = [UInt8](repeating: 0, count: length)
                got = 0
            }
        }
        lock.withLock {
            clients[connection.id]?.partialSince = nil
            clients[connection.id]?.completedFrame = true
        }
        return body
    }

    private func run(command: String, _ request: VICIMessage, for connection: VICIConnection) {
        guard let handler = lock.withLock({ commands[command] }) else {
            log("client \(connection.id): unknown command '\(command)'")
            _ = connection.enqueue(VICIPacket.commandUnknown.framed(), wait: true)
            return
        }
        var response = handler(request, VICIEventSink(connection: connection, maxMessageSize: maxMessageSize, log: log))
        do throws(VICIError) {
            try response.validate(maxSize: maxMessageSize - 1)
        } catch {
            log("command '\(command)': handler's response cannot be sent: \(error)")
            response = VICIMessage()
            response.set("success", "no")
            response["errmsg"] = .value(Array("internal error: response not encodable: \(error)".utf8.prefix(1024)))
        }
        _ = connection.enqueue(VICIPacket.commandResponse(response).framed(), wait: true)
    }
}
