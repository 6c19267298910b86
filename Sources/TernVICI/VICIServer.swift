#if canImport(Glibc)
import Glibc
#endif

// VICI server: strongSwan's vici_socket + vici_dispatcher, as a few plain threads.
//
//   accept thread   polls the listening socket and a wake pipe; accepts and starts a client
//   reader thread   one per client: reads frames, decodes, runs command handlers on itself,
//                   queues the answers; owns the client's fd and closes it last
//   writer thread   one per client: drains that client's send queue (VICIConnection)
//
// `lock` guards commands, events, clients and the lifecycle; a connection's own lock guards
// its queue and registrations. The two are never held together: publish() copies the client
// list under `lock` and queues outside it.
//
// A client that sends anything malformed (bad frame, oversized length, undecodable packet, a
// packet type only servers send) is closed with one log line; nothing it does reaches
// another client or the daemon.

/// Threaded VICI server on a Unix socket: one accept thread plus two threads per client
/// (control plane only; few clients).
public final class VICIServer: @unchecked Sendable {
    public typealias CommandHandler = @Sendable (_ request: VICIMessage, _ stream: VICIEventSink) -> VICIMessage

    public let path: String
    public let mode: UInt16
    public let group: String?
    public let maxMessageSize: Int
    private let log: @Sendable (String) -> Void

    /// Unsent bytes a client may pile up before `publish` drops it as not reading.
    var maxQueuedBytes: Int
    /// A client whose socket accepts nothing for this long is dropped.
    var sendTimeoutSeconds = 10
    /// Further connections are refused (closed at once, one log line each).
    var maxClients = 64

    private struct Running {
        var listenFD: Int32
        var wakeRead: Int32
        var wakeWrite: Int32
        var acceptThread: pthread_t
        var device: UInt64
        var inode: UInt64
    }
    private enum State { case idle, starting, running(Running), stopped }

    private let lock = Lock()
    private var state = State.idle
    private var commands: [String: CommandHandler] = [:]
    private var events: Set<String> = []
    private var clients: [UInt64: VICIConnection] = [:]
    private var nextClientID: UInt64 = 1

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
        self.maxQueuedBytes = max(16 * maxMessageSize, 1 << 20)
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
            guard listen(fd, 16) == 0 else { throw VICIError(.io, errno: errno, "listen: \(Posix.message(errno))") }
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
            return (running, Array(clients.values))
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
        if left > 0 { log("stopped with \(left) client(s) still inside a command handler") }
    }

    // MARK: Events

    /// Whether any client is registered for `event`: lets a publisher skip building a message
    /// nobody would receive (the daemon reports an event for every SA change).
    public func hasListeners(for event: String) -> Bool {
        lock.withLock { clients.values.contains { $0.isRegistered(for: event) } }
    }

    /// Sends `event` to every client registered for it. Never blocks: a client that lets
    /// `maxQueuedBytes` pile up unread is dropped instead.
    public func publish(event: String, _ message: VICIMessage) {
        let targets = lock.withLock { Array(clients.values) }.filter { $0.isRegistered(for: event) }
        guard !targets.isEmpty,
              let frame = Self.eventFrame(event, message, maxMessageSize: maxMessageSize, log: log) else { return }
        for connection in targets where connection.enqueue(frame, wait: false, event: event) == .overflow {
            log("client \(connection.id): over \(maxQueuedBytes) bytes of events unread, closing")
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
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                log("accept loop: poll: \(Posix.message(errno)); no longer accepting")
                return
            }
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

    private func adopt(_ fd: Int32) {
        let connection: VICIConnection? = lock.withLock {
            guard case .running = state, clients.count < maxClients else { return nil }
            let connection = VICIConnection(id: nextClientID, fd: fd, maxQueuedBytes: maxQueuedBytes)
            nextClientID += 1
            clients[connection.id] = connection
            return connection
        }
        guard let connection else {
            log("refusing a client: \(maxClients) clients connected or server stopping")
            Glibc.close(fd)
            return
        }
        Posix.setSendTimeout(fd, seconds: sendTimeoutSeconds)
        let log = self.log
        let id = connection.id
        do throws(VICIError) {
            let writer = try Threads.spawn(detached: false) {
                connection.writeLoop { error in log("client \(id): \(error), closing") }
            }
            do throws(VICIError) {
                _ = try Threads.spawn(detached: true) { [self] in serve(connection, writer: writer) }
            } catch {
                connection.close()
                Threads.join(writer)
                throw error
            }
        } catch {
            log("client \(id): cannot start its threads: \(error)")
            connection.releaseFD()
            forget(connection)
        }
    }

    private func forget(_ connection: VICIConnection) {
        lock.withLock {
            clients[connection.id] = nil
            lock.broadcast()
        }
    }

    /// The reader thread of one client.
    private func serve(_ connection: VICIConnection, writer: pthread_t) {
        if readLoop(connection) {
            connection.drain()
        } else {
            connection.close()
        }
        Threads.join(writer)
        connection.releaseFD()
        forget(connection)
    }

    /// Returns true at the client's clean EOF, false when the connection must close at once.
    private func readLoop(_ connection: VICIConnection) -> Bool {
        let id = connection.id
        while true {
            let frame: [UInt8]
            do throws(VICIError) {
                guard let next = try Posix.readFrame(connection.fd, maxSize: maxMessageSize) else { return true }
                frame = next
            } catch {
                // A shutdown of ours, or the peer resetting, needs no line of its own.
                if connection.isOpen && error.code != .closed { log("client \(id): \(error), closing") }
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
        }
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
