import TernWire

/// Rate limit for log lines an attacker can cause one per packet (no connection found, bad
/// cookie, malformed or undecryptable messages, half-open timeouts): the first `burst` lines of a
/// kind in a second go out, the rest are counted and summed up in one line per second.
/// The stats counters keep the exact numbers.
struct LogLimiter {
    enum Kind: String, CaseIterable {
        case noConnection = "no connection configured"
        case malformed = "malformed message"
        case undecryptable = "message dropped (cannot decrypt or parse)"
        case halfOpenTimeout = "half-open IKE_SA timed out"
        case halfOpenEvicted = "half-open IKE_SA evicted"
        case halfOpenLimited = "IKE_SA_INIT over block_threshold dropped"
    }

    static let burst = 5
    private var windowStart: [Kind: MonotonicInstant] = [:]
    private var sent: [Kind: Int] = [:]
    private var suppressed: [Kind: Int] = [:]
    /// When the pending summary lines are due.
    private(set) var nextFlush: MonotonicInstant?

    mutating func log(_ kind: Kind, _ level: IKEEvent.LogLevel, _ text: @autoclosure () -> String, now: MonotonicInstant, _ out: inout [IKEAction]) {
        if let start = windowStart[kind], now.seconds(since: start) < 1 {
            if sent[kind, default: 0] >= Self.burst {
                suppressed[kind, default: 0] += 1
                if nextFlush == nil { nextFlush = start + 1.0 }
                return
            }
        } else {
            summarize(kind, &out)
            windowStart[kind] = now
            sent[kind] = 0
        }
        sent[kind, default: 0] += 1
        out.append(.event(.log(level, text())))
    }

    /// Writes the summary lines of windows that ended.
    mutating func flush(now: MonotonicInstant, _ out: inout [IKEAction]) {
        guard let due = nextFlush, now >= due else { return }
        nextFlush = nil
        for kind in Kind.allCases {
            guard let start = windowStart[kind] else { continue }
            if now.seconds(since: start) >= 1 {
                summarize(kind, &out)
                windowStart[kind] = nil
            } else if suppressed[kind, default: 0] > 0 {
                nextFlush = min(nextFlush ?? .never, start + 1.0)
            }
        }
    }

    private mutating func summarize(_ kind: Kind, _ out: inout [IKEAction]) {
        guard let n = suppressed.removeValue(forKey: kind), n > 0 else { return }
        out.append(.event(.log(.notice, "\(n) more '\(kind.rawValue)' messages in the last second (not logged one by one)")))
    }
}
