#if canImport(Glibc)
import Glibc
#endif

/// Lets through at most `perWindow` lines per window (one second) and counts the rest by
/// kind, so a crowd of abusive clients costs a few lines and one summary instead of a line
/// each. The summary is due once its window has passed: `admit` returns it with the next
/// line, `flush` (called from a periodic tick) returns it when no further line comes.
final class LogLimiter: @unchecked Sendable {
    let perWindow: Int
    let windowNanos: UInt64
    private let lock = Lock()
    private var windowStart: UInt64 = 0
    private var admitted = 0
    private var suppressed: [String: Int] = [:]

    init(perWindow: Int = 5, windowNanos: UInt64 = 1_000_000_000) {
        self.perWindow = perWindow
        self.windowNanos = windowNanos
    }

    /// The lines to log now, in order: possibly the previous window's summary, then `line`
    /// unless this window has had its share.
    func admit(_ line: String, kind: String, now: UInt64 = Lock.monotonicNanos()) -> [String] {
        lock.withLock {
            var out: [String] = []
            if now &- windowStart >= windowNanos {
                if let summary = summaryLocked() { out.append(summary) }
                windowStart = now
                admitted = 0
            }
            if admitted < perWindow {
                admitted += 1
                out.append(line)
            } else {
                suppressed[kind, default: 0] += 1
            }
            return out
        }
    }

    /// The pending summary once its window is over, else nil.
    func flush(now: UInt64 = Lock.monotonicNanos()) -> String? {
        lock.withLock {
            guard now &- windowStart >= windowNanos else { return nil }
            return summaryLocked()
        }
    }

    private func summaryLocked() -> String? {
        guard !suppressed.isEmpty else { return nil }
        let total = suppressed.values.reduce(0, +)
        let kinds = suppressed.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        suppressed = [:]
        return "\(total) more such client line(s) not logged (\(kinds))"
    }
}
