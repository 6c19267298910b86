/// What a `VICIServer` has done with its clients, for metrics. A snapshot: read
/// `VICIServer.stats` again for fresh numbers. Totals count since `start()`.
public struct VICIServerStats: Sendable, Equatable {
    /// Clients holding a slot now (evicted clients still closing are not counted).
    public var currentClients = 0
    /// Connections taken into the table.
    public var acceptedTotal: UInt64 = 0
    /// Connections closed at once: the table was full of clients that are all doing something
    /// (or the server was stopping, or their threads could not start).
    public var refusedTotal: UInt64 = 0
    /// Clients closed for sending no complete frame for `idleTimeoutSeconds`.
    public var closedForIdle: UInt64 = 0
    /// Clients closed for leaving a frame incomplete for `partialMessageTimeoutSeconds`.
    public var closedForPartialMessage: UInt64 = 0
    /// Clients closed to make room for a newcomer while the table was full.
    public var evicted: UInt64 = 0
    /// Event subscribers closed by `publish` for letting `maxQueuedBytes` pile up unread.
    public var slowSubscriberDrops: UInt64 = 0

    public init() {}
}
