/// A point on the machine's monotonic clock (CLOCK_MONOTONIC), in nanoseconds since it started.
///
/// One time type for everything that measures intervals: SA lifetimes and last-use times in
/// the data plane, the hold queue's timeouts, the IKE engine's inputs, stored instants and
/// timers (durations stay `Double` seconds: `instant + seconds`). It never jumps when the wall clock is set, so a lifetime lasts as long as it
/// says. The cores never read a clock: the daemon reads it (`TernPlatform`) and passes it in.
@frozen public struct MonotonicInstant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanoseconds: UInt64

    @inlinable public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }
    @inlinable public init(seconds: Double) { nanoseconds = UInt64(max(0, seconds) * 1e9) }
    @inlinable public init(wholeSeconds: UInt64) { nanoseconds = wholeSeconds &* 1_000_000_000 }

    public static let zero = MonotonicInstant(nanoseconds: 0)
    /// Never reached: a deadline that does not expire.
    public static let never = MonotonicInstant(nanoseconds: .max)

    @inlinable public var seconds: Double { Double(nanoseconds) / 1e9 }
    @inlinable public var wholeSeconds: UInt64 { nanoseconds / 1_000_000_000 }

    @inlinable public static func < (a: MonotonicInstant, b: MonotonicInstant) -> Bool { a.nanoseconds < b.nanoseconds }

    /// `self` plus whole seconds, saturating at `never` (0 is "no limit" in strongSwan's lifetimes:
    /// callers check that first).
    @inlinable public func adding(seconds s: UInt64) -> MonotonicInstant {
        let (ns, o1) = s.multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, o2) = nanoseconds.addingReportingOverflow(ns)
        return o1 || o2 ? .never : MonotonicInstant(nanoseconds: sum)
    }

    /// `self` plus a duration in seconds (the engine's configuration and its retransmission and
    /// jitter arithmetic keep durations as `Double` seconds), rounded to the nanosecond:
    /// saturating at `never` (an infinite duration gives `never`), clamped at `zero` below.
    @inlinable public static func + (a: MonotonicInstant, seconds: Double) -> MonotonicInstant {
        let ns = (seconds * 1e9).rounded()
        guard ns.isFinite else { return ns > 0 ? .never : .zero }
        if ns >= 0 {
            guard ns < 9.2e18 else { return .never }
            let (sum, o) = a.nanoseconds.addingReportingOverflow(UInt64(ns))
            return o ? .never : MonotonicInstant(nanoseconds: sum)
        }
        guard ns > -9.2e18 else { return .zero }
        return MonotonicInstant(nanoseconds: a.nanoseconds - min(a.nanoseconds, UInt64(-ns)))
    }

    @inlinable public static func - (a: MonotonicInstant, seconds: Double) -> MonotonicInstant { a + -seconds }
    @inlinable public static func += (a: inout MonotonicInstant, seconds: Double) { a = a + seconds }

    /// Seconds from `earlier` to `self` (negative if `earlier` is the later one).
    @inlinable public func seconds(since earlier: MonotonicInstant) -> Double {
        self >= earlier ? Double(nanoseconds - earlier.nanoseconds) / 1e9 : -(Double(earlier.nanoseconds - nanoseconds) / 1e9)
    }

    @inlinable public static func + (a: MonotonicInstant, d: Duration) -> MonotonicInstant {
        let (s, atto) = d.components
        let ns = Int64(s) &* 1_000_000_000 &+ atto / 1_000_000_000
        return ns >= 0 ? MonotonicInstant(nanoseconds: a.nanoseconds &+ UInt64(ns))
                       : MonotonicInstant(nanoseconds: a.nanoseconds &- min(a.nanoseconds, UInt64(-ns)))
    }

    @inlinable public static func - (a: MonotonicInstant, b: MonotonicInstant) -> Duration {
        a >= b ? .nanoseconds(Int64(clamping: a.nanoseconds - b.nanoseconds))
               : .nanoseconds(-Int64(clamping: b.nanoseconds - a.nanoseconds))
    }

    public var description: String { "\(seconds) s (monotonic)" }
}

/// An integer literal is whole seconds (tests and fixtures write `now: 1_000`).
extension MonotonicInstant: ExpressibleByIntegerLiteral {
    @inlinable public init(integerLiteral value: UInt64) { self.init(wholeSeconds: value) }
}

/// A float literal is seconds, rounded to the nanosecond (tests write `now: 0.1`).
extension MonotonicInstant: ExpressibleByFloatLiteral {
    @inlinable public init(floatLiteral value: Double) { self = .zero + value }
}
