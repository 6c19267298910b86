#if canImport(Glibc)
import Glibc
#endif

/// One accepted client of `VICIServer`: its socket, its send queue and its event
/// registrations.
///
/// Every packet to the client goes through the queue, drained by the client's own writer
/// thread, so a caller never blocks on the client's socket: `publish` from any thread only
/// appends (and drops the client once `maxQueuedBytes` pile up unread), while the client's
/// own command handler waits for room instead (back-pressure for a streamed listing only
/// slows the client that asked for it). The writer's send timeout drops a client that stops
/// reading altogether.
///
/// The reader thread owns `fd`: it closes it only after the writer has been joined, and
/// `close()` only ever shuts it down, under the lock, while it is still open.
final class VICIConnection: @unchecked Sendable {
    let id: UInt64
    let fd: Int32
    let maxQueuedBytes: Int
    private let lock = Lock()
    private var queue: [[UInt8]] = []
    private var head = 0
    private var queuedBytes = 0
    private var closed = false
    private var draining = false
    private var fdOpen = true
    private var registrations: Set<String> = []

    init(id: UInt64, fd: Int32, maxQueuedBytes: Int) {
        self.id = id
        self.fd = fd
        self.maxQueuedBytes = maxQueuedBytes
    }

    var isOpen: Bool { lock.withLock { !closed && !draining } }

    func isRegistered(for event: String) -> Bool { lock.withLock { registrations.contains(event) } }

    /// Registered for any event: a listener, which may stay silent as long as it likes.
    var hasRegistrations: Bool { lock.withLock { !registrations.isEmpty } }

    /// Stops the connection at once: queued packets are dropped, the reader's recv and the
    /// writer's send return. True only for the call that actually closed it, so exactly one
    /// caller logs why.
    @discardableResult
    func close() -> Bool {
        lock.withLock {
            guard !closed else { return false }
            closed = true
            if fdOpen { shutdown(fd, Int32(SHUT_RDWR)) }
            lock.broadcast()
            return true
        }
    }

    /// After the client's EOF: accept nothing new, let the writer flush what is queued.
    func drain() {
        lock.withLock {
            draining = true
            lock.broadcast()
        }
    }

    /// Called once, by the reader thread, after the writer has exited.
    func releaseFD() {
        lock.withLock {
            closed = true
            fdOpen = false
        }
        Glibc.close(fd)
    }

    enum Enqueued { case queued, notRegistered, closed, overflow }

    /// Appends a framed packet. With `wait`, blocks while the queue is full (the client's own
    /// thread); without, a full queue closes the connection and returns `.overflow`. With
    /// `event`, only queues if the client is registered for it, checked atomically with the
    /// append so an event never slips past an EVENT_CONFIRM of an unregistration.
    func enqueue(_ frame: [UInt8], wait: Bool, event: String? = nil) -> Enqueued {
        lock.withLock {
            if wait {
                while !closed && !draining && queuedBytes > 0 && queuedBytes + frame.count > maxQueuedBytes {
                    lock.wait()
                }
            }
            guard !closed && !draining else { return .closed }
            if let event, !registrations.contains(event) { return .notRegistered }
            if !wait && queuedBytes > 0 && queuedBytes + frame.count > maxQueuedBytes {
                closed = true
                if fdOpen { shutdown(fd, Int32(SHUT_RDWR)) }
                lock.broadcast()
                return .overflow
            }
            appendLocked(frame)
            return .queued
        }
    }

    /// Registers (or unregisters) and queues the answer in one step, so the answer and the
    /// change of registration are ordered the same for every publisher.
    func setRegistration(_ event: String, registered: Bool, known: Bool) {
        lock.withLock {
            guard !closed && !draining else { return }
            let ok: Bool
            if registered {
                ok = known
                if known { registrations.insert(event) }
            } else {
                ok = registrations.remove(event) != nil
            }
            appendLocked((ok ? VICIPacket.eventConfirm : VICIPacket.eventUnknown).framed())
        }
    }

    private func appendLocked(_ frame: [UInt8]) {
        queue.append(frame)
        queuedBytes += frame.count
        lock.broadcast()
    }

    /// The writer thread: sends queued packets until closed (or drained). `onError` is called
    /// when a send fails on a connection nobody had closed yet.
    func writeLoop(onError: (VICIError) -> Void) {
        while true {
            let next: [UInt8]? = lock.withLock {
                while !closed && head == queue.count {
                    if draining { return nil }
                    lock.wait()
                }
                if closed { return nil }
                let frame = queue[head]
                queue[head] = []
                head += 1
                if head == queue.count {
                    queue.removeAll(keepingCapacity: true)
                    head = 0
                } else if head >= 64 && head * 2 >= queue.count {
                    queue.removeFirst(head)
                    head = 0
                }
                return frame
            }
            guard let frame = next else { return }
            do {
                try Posix.sendAll(fd, frame)
            } catch {
                if close() { onError(error) }
                return
            }
            lock.withLock {
                queuedBytes -= frame.count
                lock.broadcast()
            }
        }
    }
}

/// Lets a command handler stream events to the client that sent the command, before its
/// response (list-sas style). Like strongSwan, an event reaches the client only if it
/// registered for that event name; sending blocks while that client's queue is full.
public struct VICIEventSink: Sendable {
    let connection: VICIConnection?
    let maxMessageSize: Int
    let log: (@Sendable (String) -> Void)?

    init(connection: VICIConnection?, maxMessageSize: Int, log: (@Sendable (String) -> Void)?) {
        self.connection = connection
        self.maxMessageSize = maxMessageSize
        self.log = log
    }

    /// A sink that drops everything, for calling handlers outside a server (unit tests).
    public static let discarding = VICIEventSink(connection: nil, maxMessageSize: VICIMessage.maxSize, log: nil)

    /// False once the client has gone; a long listing can stop early.
    public var isConnected: Bool { connection?.isOpen ?? false }

    /// Whether the client registered for `event` (skip building messages nobody reads).
    public func wants(event: String) -> Bool { connection?.isRegistered(for: event) ?? false }

    public func send(event: String, _ message: VICIMessage) {
        guard let connection, connection.isRegistered(for: event) else { return }
        guard let frame = VICIServer.eventFrame(event, message, maxMessageSize: maxMessageSize, log: log) else { return }
        _ = connection.enqueue(frame, wait: true, event: event)
    }
}
