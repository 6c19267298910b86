/// One VICI packet: what a single length-framed byte sequence carries.
///
/// There are no sequence numbers: a connection has at most one command in flight, and the
/// server may interleave EVENT packets anywhere, even before a command's response.
public enum VICIPacket: Sendable, Hashable {
    case commandRequest(name: String, message: VICIMessage)   // 0, client → server
    case commandResponse(VICIMessage)                          // 1
    case commandUnknown                                        // 2
    case eventRegister(name: String)                           // 3, client → server
    case eventUnregister(name: String)                         // 4, client → server
    case eventConfirm                                          // 5
    case eventUnknown                                          // 6
    case event(name: String, message: VICIMessage)             // 7

    /// The packet bytes, without the 4-byte length frame.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        switch self {
        case .commandRequest(let name, let message):
            out.append(VICIWire.cmdRequest)
            VICIMessage.appendName(name, to: &out)
            message.encode(into: &out)
        case .commandResponse(let message):
            out.append(VICIWire.cmdResponse)
            message.encode(into: &out)
        case .commandUnknown:
            out.append(VICIWire.cmdUnknown)
        case .eventRegister(let name):
            out.append(VICIWire.eventRegister)
            VICIMessage.appendName(name, to: &out)
        case .eventUnregister(let name):
            out.append(VICIWire.eventUnregister)
            VICIMessage.appendName(name, to: &out)
        case .eventConfirm:
            out.append(VICIWire.eventConfirm)
        case .eventUnknown:
            out.append(VICIWire.eventUnknown)
        case .event(let name, let message):
            out.append(VICIWire.event)
            VICIMessage.appendName(name, to: &out)
            message.encode(into: &out)
        }
        return out
    }

    /// The packet behind its 32-bit big-endian length, ready for the socket.
    public func framed() -> [UInt8] {
        let body = encoded()
        let n = UInt32(truncatingIfNeeded: body.count)
        return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + body
    }

    /// Decodes one unframed packet. Packets without a message must end after their name.
    public static func decode(_ bytes: some Collection<UInt8>, maxSize: Int = VICIMessage.maxSize) throws(VICIError) -> VICIPacket {
        var r = VICIReader(Array(bytes))
        guard r.bytes.count <= maxSize else {
            throw VICIError(.oversized, "\(r.bytes.count) bytes, limit \(maxSize)")
        }
        let packet: VICIPacket
        switch try r.u8() {
        case VICIWire.cmdRequest:
            let name = try r.name()
            return .commandRequest(name: name, message: try r.message())
        case VICIWire.cmdResponse:
            return .commandResponse(try r.message())
        case VICIWire.event:
            let name = try r.name()
            return .event(name: name, message: try r.message())
        case VICIWire.cmdUnknown: packet = .commandUnknown
        case VICIWire.eventRegister: packet = .eventRegister(name: try r.name())
        case VICIWire.eventUnregister: packet = .eventUnregister(name: try r.name())
        case VICIWire.eventConfirm: packet = .eventConfirm
        case VICIWire.eventUnknown: packet = .eventUnknown
        case let type: throw VICIError(.badPacketType, at: 0, "type \(type)")
        }
        guard r.atEnd else { throw VICIError(.trailingBytes, at: r.offset) }
        return packet
    }

    /// The name strongSwan's README gives the packet type, for log lines.
    public var typeName: String {
        switch self {
        case .commandRequest: "CMD_REQUEST"
        case .commandResponse: "CMD_RESPONSE"
        case .commandUnknown: "CMD_UNKNOWN"
        case .eventRegister: "EVENT_REGISTER"
        case .eventUnregister: "EVENT_UNREGISTER"
        case .eventConfirm: "EVENT_CONFIRM"
        case .eventUnknown: "EVENT_UNKNOWN"
        case .event: "EVENT"
        }
    }
}
