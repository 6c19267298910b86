import TernIKE

/// The counters of strongSwan's counters plugin (counters_query.h), counted from what passes
/// the IKE controller: exchanges by type and direction from each message's header, rekeys
/// from the engine's events, invalid/invalid-spi from the endpoint's stats.
struct IKECounters: Sendable {
    /// In the order counters_query.h declares them; `get-counters` answers in this order.
    static let names = [
        "ike-rekey-init", "ike-rekey-resp", "child-rekey", "invalid", "invalid-spi",
        "ike-init-in-req", "ike-init-in-resp", "ike-init-out-req", "ike-init-out-resp",
        "ike-auth-in-req", "ike-auth-in-resp", "ike-auth-out-req", "ike-auth-out-resp",
        "create-child-in-req", "create-child-in-resp", "create-child-out-req", "create-child-out-resp",
        "info-in-req", "info-in-resp", "info-out-req", "info-out-resp",
    ]

    private(set) var values: [String: UInt64] = [:]
    /// The same by connection (an IKE SA's messages once its connection is known, as the
    /// counters plugin counts by peer config); invalid/invalid-spi stay global.
    private(set) var byConnection: [String: [String: UInt64]] = [:]
    /// Endpoint stats at the last reset, so invalid/invalid-spi restart from zero.
    private var malformedBase = 0
    private var unknownSPIBase = 0

    mutating func add(_ name: String, _ n: UInt64 = 1, connection: String? = nil) {
        values[name, default: 0] &+= n
        if let connection { byConnection[connection, default: [:]][name, default: 0] &+= n }
    }

    mutating func reset(connection: String) { byConnection[connection] = nil }

    mutating func reset(stats: IKEEndpointStats) { values = [:]; byConnection = [:]; malformedBase = stats.malformed; unknownSPIBase = stats.unknownSPI }

    /// Counts an IKE message by its header (RFC 7296 §3.1): exchange type at byte 18, the
    /// Response flag (0x20) at byte 19. A leading non-ESP marker (four zero bytes) is skipped.
    mutating func count(message bytes: [UInt8], outbound: Bool, connection: String? = nil) {
        let start = Self.headerStart(bytes)
        guard bytes.count >= start + 28 else { return }
        let exchange: String
        switch bytes[start + 18] {
        case 34: exchange = "ike-init"
        case 35: exchange = "ike-auth"
        case 36: exchange = "create-child"
        case 37: exchange = "info"
        default: return
        }
        let isResponse = bytes[start + 19] & 0x20 != 0
        add("\(exchange)-\(outbound ? "out" : "in")-\(isResponse ? "resp" : "req")", connection: connection)
    }

    /// Where the IKE header starts: after a non-ESP marker (four zero bytes), if any.
    static func headerStart(_ bytes: [UInt8]) -> Int {
        bytes.count >= 4 && bytes[0] == 0 && bytes[1] == 0 && bytes[2] == 0 && bytes[3] == 0 ? 4 : 0
    }

    /// The initiator's and responder's SPIs of an IKE message; nil if too short.
    static func spis(_ bytes: [UInt8]) -> (UInt64, UInt64)? {
        let start = headerStart(bytes)
        guard bytes.count >= start + 28 else { return nil }
        func be64(_ at: Int) -> UInt64 { bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        return (be64(start), be64(start + 8))
    }

    mutating func count(event: IKEEvent) {
        switch event {
        // After an IKE rekey the side that started it is the new SA's initiator (RFC 7296 §2.18).
        case .ikeRekeyed(_, let new): add(new.isInitiator ? "ike-rekey-init" : "ike-rekey-resp", connection: new.connection)
        case .childRekeyed(let sa, _, _): add("child-rekey", connection: sa.connection)
        default: break
        }
    }

    /// One connection's counters (zeros where nothing was counted; invalid/invalid-spi are global only).
    func snapshot(connection: String) -> [(String, UInt64)] {
        let mine = byConnection[connection] ?? [:]
        return Self.names.map { ($0, mine[$0] ?? 0) }
    }

    /// Every counter, stats-derived ones relative to the last reset.
    func snapshot(stats: IKEEndpointStats) -> [(String, UInt64)] {
        Self.names.map { name in
            switch name {
            case "invalid": (name, UInt64(max(0, stats.malformed - malformedBase)))
            case "invalid-spi": (name, UInt64(max(0, stats.unknownSPI - unknownSPIBase)))
            default: (name, values[name] ?? 0)
            }
        }
    }
}
