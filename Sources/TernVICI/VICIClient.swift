#if canImport(Glibc)
import Glibc
#endif

/// A blocking VICI client over a Unix socket (what `tern` uses to drive `ternd`, and what
/// tests use to drive any VICI server, strongSwan's charon included).
///
/// One command at a time per connection, as the protocol requires. EVENT packets that arrive
/// while waiting for something else and that nobody asked for are skipped. Not thread-safe:
/// use one client per thread.
public final class VICIClient {
    private var fd: Int32
    public let path: String

    /// Connects to the server's socket. Fails with `.socketMissing` (no file: daemon not
    /// running?), `.connectionRefused` (stale file: daemon gone) or `.permissionDenied`.
    public init(path: String) throws(VICIError) {
        self.path = path
        fd = try Posix.connect(path)
    }

    deinit { close() }

    /// Sends a CMD_REQUEST and returns the CMD_RESPONSE message; `.unknownCommand` when the
    /// server has no such command.
    public func call(_ command: String, _ message: VICIMessage = VICIMessage()) throws(VICIError) -> VICIMessage {
        try send(.commandRequest(name: command, message: message))
        while true {
            switch try receive() {
            case .commandResponse(let response): return response
            case .commandUnknown: throw VICIError(.unknownCommand, "'\(command)'")
            case .event: continue
            case let other: throw VICIError(.unexpectedPacket, "\(other.typeName) while waiting for the '\(command)' response")
            }
        }
    }

    /// A streamed command (list-sas, list-conns, initiate with its control-log …): registers
    /// for `event`, issues the command, hands every `event` to `onEvent` until the response
    /// arrives, then unregisters and returns the response.
    public func streamedCall(_ command: String, event: String, _ message: VICIMessage = VICIMessage(),
                             onEvent: (VICIMessage) -> Void) throws(VICIError) -> VICIMessage {
        try register(event)
        let result: Result<VICIMessage, VICIError>
        do throws(VICIError) {
            try send(.commandRequest(name: command, message: message))
            result = .success(try awaitResponse(command, event: event, onEvent: onEvent))
        } catch {
            result = .failure(error)
        }
        switch result {
        case .success: try unregister(event)
        case .failure(let error):
            // Leave the connection usable after an unknown command; anything else broke it.
            if error.code == .unknownCommand { try unregister(event) }
        }
        return try result.get()
    }

    private func awaitResponse(_ command: String, event: String, onEvent: (VICIMessage) -> Void) throws(VICIError) -> VICIMessage {
        while true {
            switch try receive() {
            case .commandResponse(let response): return response
            case .commandUnknown: throw VICIError(.unknownCommand, "'\(command)'")
            case .event(let name, let message): if name == event { onEvent(message) }
            case let other: throw VICIError(.unexpectedPacket, "\(other.typeName) while streaming '\(command)'")
            }
        }
    }

    /// Registers for `events` and hands each event to `onEvent` until it returns false; then
    /// unregisters. Throws `.unknownEvent` if the server does not offer one of them, and
    /// `.closed` if the server goes away. `onRegistered` runs once every registration is
    /// confirmed (from then on no event is missed).
    public func listen(events: [String], onRegistered: (() -> Void)? = nil,
                       onEvent: (String, VICIMessage) -> Bool) throws(VICIError) {
        var registered: [String] = []
        do throws(VICIError) {
            for event in events {
                try register(event)
                registered.append(event)
            }
        } catch {
            for event in registered { try? unregister(event) }
            throw error
        }
        onRegistered?()
        loop: while true {
            switch try receive() {
            case .event(let name, let message):
                if registered.contains(name), !onEvent(name, message) { break loop }
            case let other:
                throw VICIError(.unexpectedPacket, "\(other.typeName) while listening for events")
            }
        }
        for event in registered { try unregister(event) }
    }

    /// Closes the connection; later calls fail with `.closed`. Safe to call twice.
    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    // MARK: Packets

    private func register(_ event: String) throws(VICIError) {
        try send(.eventRegister(name: event))
        try awaitConfirm("registering for '\(event)'")
    }

    private func unregister(_ event: String) throws(VICIError) {
        try send(.eventUnregister(name: event))
        try awaitConfirm("unregistering from '\(event)'")
    }

    private func awaitConfirm(_ what: String) throws(VICIError) {
        while true {
            switch try receive() {
            case .eventConfirm: return
            case .eventUnknown: throw VICIError(.unknownEvent, what)
            case .event: continue   // still in flight from before an unregister
            case let other: throw VICIError(.unexpectedPacket, "\(other.typeName) while \(what)")
            }
        }
    }

    private func send(_ packet: VICIPacket) throws(VICIError) {
        guard fd >= 0 else { throw VICIError(.closed, "client closed") }
        switch packet {
        case .commandRequest(let name, let message):
            try VICIMessage.validateName(name)
            try message.validate()
        case .eventRegister(let name), .eventUnregister(let name):
            try VICIMessage.validateName(name)
        default: break
        }
        let body = packet.encoded()
        guard body.count <= VICIMessage.maxSize else {
            throw VICIError(.oversized, "request of \(body.count) bytes, limit \(VICIMessage.maxSize)")
        }
        try Posix.sendAll(fd, packet.framed())
    }

    private func receive() throws(VICIError) -> VICIPacket {
        guard fd >= 0 else { throw VICIError(.closed, "client closed") }
        guard let frame = try Posix.readFrame(fd, maxSize: VICIMessage.maxSize) else {
            throw VICIError(.closed, "server closed the connection")
        }
        return try VICIPacket.decode(frame)
    }
}
