import TernIKE
import TernWire

/// The counters of strongSwan's counters plugin (counters_query.h): the IKE messages by
/// exchange, direction and request/response as the engine counts them
/// (`IKEEndpoint.messages`, `messagesByConnection`), rekeys from the engine's events,
/// invalid/invalid-spi from the endpoint's stats. Touched only on the IKE queue.
struct IKECounters: Sendable {
    /// In the order counters_query.h declares them; `get-counters` answers in this order.
    static let names = [
        "ike-rekey-init", "ike-rekey-resp", "child-rekey", "invalid", "invalid-spi",
        "ike-init-in-req", "ike-init-in-resp", "ike-init-out-req", "ike-init-out-resp",
        "ike-auth-in-req", "ike-auth-in-resp", "ike-auth-out-req", "ike-auth-out-resp",
        "create-child-in-req", "create-child-in-resp", "create-child-out-req", "create-child-out-resp",
        "info-in-req", "info-in-resp", "info-out-req", "info-out-resp",
    ]

    /// The message counters' names, with where each one is in `IKEMessageCounts`.
    static let messageNames: [(name: String, exchange: IKEExchangeType, direction: IKEMessageCounts.Direction, isResponse: Bool)] = {
        var out: [(String, IKEExchangeType, IKEMessageCounts.Direction, Bool)] = []
        for (prefix, exchange) in [("ike-init", IKEExchangeType.ikeSAInit), ("ike-auth", .ikeAuth), ("create-child", .createChildSA), ("info", .informational)] {
            for (d, direction) in [("in", IKEMessageCounts.Direction.inbound), ("out", .outbound)] {
                for (r, isResponse) in [("req", false), ("resp", true)] { out.append(("\(prefix)-\(d)-\(r)", exchange, direction, isResponse)) }
            }
        }
        return out
    }()

    /// Rekeys (the counters not about messages), in all and by connection.
    private(set) var rekeys: [String: UInt64] = [:]
    private(set) var rekeysByConnection: [String: [String: UInt64]] = [:]
    /// Endpoint stats at the last reset, so invalid/invalid-spi restart from zero.
    private var malformedBase = 0
    private var unknownSPIBase = 0

    private mutating func add(_ name: String, connection: String) {
        rekeys[name, default: 0] &+= 1
        rekeysByConnection[connection, default: [:]][name, default: 0] &+= 1
    }

    mutating func count(event: IKEEvent) {
        switch event {
        // After an IKE rekey the side that started it is the new SA's initiator (RFC 7296 §2.18).
        case .ikeRekeyed(_, let new): add(new.isInitiator ? "ike-rekey-init" : "ike-rekey-resp", connection: new.connection)
        case .childRekeyed(let sa, _, _): add("child-rekey", connection: sa.connection)
        default: break
        }
    }

    /// The connections with counters (VICI `get-counters all=yes`).
    func connections(_ endpoint: IKEEndpoint) -> [String] {
        Set(rekeysByConnection.keys).union(endpoint.messagesByConnection.keys).sorted()
    }

    mutating func reset(connection: String, _ endpoint: IKEEndpoint) {
        rekeysByConnection[connection] = nil
        endpoint.resetMessageCounts(connection: connection)
    }

    mutating func reset(_ endpoint: IKEEndpoint) {
        rekeys = [:]
        rekeysByConnection = [:]
        malformedBase = endpoint.stats.malformed
        unknownSPIBase = endpoint.stats.unknownSPI
        endpoint.resetMessageCounts()
    }

    /// One connection's counters (zeros where nothing was counted; invalid/invalid-spi are global only).
    func snapshot(connection: String, _ endpoint: IKEEndpoint) -> [(String, UInt64)] {
        Self.values(rekeys: rekeysByConnection[connection] ?? [:], messages: endpoint.messagesByConnection[connection] ?? IKEMessageCounts()) { _ in 0 }
    }

    /// Every counter, stats-derived ones relative to the last reset.
    func snapshot(_ endpoint: IKEEndpoint) -> [(String, UInt64)] {
        let stats = endpoint.stats
        return Self.values(rekeys: rekeys, messages: endpoint.messages) { name in
            name == "invalid" ? UInt64(max(0, stats.malformed - malformedBase)) : UInt64(max(0, stats.unknownSPI - unknownSPIBase))
        }
    }

    private static func values(rekeys: [String: UInt64], messages: IKEMessageCounts, invalid: (String) -> UInt64) -> [(String, UInt64)] {
        var byName = rekeys
        for m in messageNames { byName[m.name] = messages[m.exchange, m.direction, m.isResponse] }
        return names.map { name in (name, name == "invalid" || name == "invalid-spi" ? invalid(name) : byName[name] ?? 0) }
    }
}
