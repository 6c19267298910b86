import TernWire

/// IKE messages an endpoint received and sent, by exchange, direction and request/response:
/// the sixteen message counters of strongSwan's counters plugin (ike-init-in-req …
/// info-out-resp). The endpoint counts them as it handles and emits datagrams (every datagram:
/// a retransmission or each fragment of a fragmented message counts again, as on the wire), in
/// all and per connection (`IKEEndpoint.messages`, `messagesByConnection`). What it dropped and
/// why is in `IKEEndpointStats`.
public struct IKEMessageCounts: Sendable, Equatable {
    public enum Direction: Int, Sendable, CaseIterable {
        case inbound, outbound
    }

    /// Indexed by `index(exchange:direction:isResponse:)`.
    private var values = [UInt64](repeating: 0, count: 16)

    public init() {}

    @inline(__always) private static func index(_ exchange: IKEExchangeType, _ direction: Direction, _ isResponse: Bool) -> Int {
        Int(exchange.rawValue - IKEExchangeType.ikeSAInit.rawValue) * 4 + direction.rawValue * 2 + (isResponse ? 1 : 0)
    }

    public subscript(exchange: IKEExchangeType, direction: Direction, isResponse: Bool) -> UInt64 {
        values[Self.index(exchange, direction, isResponse)]
    }

    /// Every message counted.
    public var total: UInt64 { values.reduce(0, &+) }

    mutating func count(_ exchange: IKEExchangeType, _ direction: Direction, isResponse: Bool) {
        values[Self.index(exchange, direction, isResponse)] &+= 1
    }
}

extension IKEEndpoint {
    /// Counts one datagram by its header (received: before it is handled; sent: as it leaves),
    /// for the connection of the IKE SA it belongs to when there is one. Exchanges other than
    /// the four of RFC 7296 are not counted.
    func countMessage(_ header: IKEHeader, _ direction: IKEMessageCounts.Direction) {
        guard let exchange = IKEExchangeType(rawValue: header.exchangeType) else { return }
        let isResponse = header.flags.contains(.response)
        messages.count(exchange, direction, isResponse: isResponse)
        // Our SPI is either one (the initiator's when we initiated).
        let i = header.initiatorSPI, r = header.responderSPI
        let name = sessions[i]?.policy.name ?? (r == 0 ? nil : sessions[r]?.policy.name)
            ?? (direction == .outbound ? removedThisInput[i] ?? (r == 0 ? nil : removedThisInput[r]) : nil)
        if let name {
            messagesByConnection[name, default: IKEMessageCounts()].count(exchange, direction, isResponse: isResponse)
        }
    }

    /// Counts the datagrams an input sends (`out[from...]`): called once by every public input
    /// on what it returns, so each datagram is counted once, retransmissions included.
    func countSent(_ out: [IKEAction], from start: Int = 0) -> [IKEAction] {
        for action in out[start...] {
            guard case .send(let datagram, _, _) = action, let header = try? IKEHeader(decoding: datagram[...]) else { continue }
            countMessage(header, .outbound)
        }
        removedThisInput.removeAll(keepingCapacity: true)
        return out
    }

    /// Zeroes the message counters: all of them, or one connection's (VICI `reset-counters`).
    public func resetMessageCounts(connection: String? = nil) {
        if let connection {
            messagesByConnection[connection] = nil
        } else {
            messages = IKEMessageCounts()
            messagesByConnection = [:]
        }
    }
}
