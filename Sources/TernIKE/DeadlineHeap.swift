import TernWire

/// When each IKE SA next needs a tick: a binary min-heap of (deadline, SPI) entries, so the
/// endpoint finds the next timer in O(1) and reschedules an SA in O(log n) instead of walking
/// every SA.
///
/// Entries are not removed when a deadline moves: the session remembers the deadline of its
/// newest entry (`IKESession.scheduledDeadline`), and older entries are stale. A stale entry
/// that comes due makes the endpoint look at the session once more, which is harmless; the
/// endpoint rebuilds the heap when stale entries outnumber live ones.
struct DeadlineHeap {
    private var entries: [(at: MonotonicInstant, spi: UInt64)] = []

    var count: Int { entries.count }
    var earliest: MonotonicInstant? { entries.first?.at }

    mutating func schedule(spi: UInt64, at: MonotonicInstant) {
        entries.append((at, spi))
        var i = entries.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard entries[i].at < entries[parent].at else { break }
            entries.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes and returns the SPIs of every entry due at `now` (each SPI once).
    mutating func popDue(now: MonotonicInstant) -> [UInt64] {
        var due: [UInt64] = []
        var seen = Set<UInt64>()
        while let first = entries.first, first.at <= now {
            if seen.insert(first.spi).inserted { due.append(first.spi) }
            removeFirst()
        }
        return due
    }

    mutating func rebuild(_ live: [(UInt64, MonotonicInstant)]) {
        entries = live.map { (at: $0.1, spi: $0.0) }
        guard entries.count > 1 else { return }
        for i in stride(from: entries.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
    }

    private mutating func removeFirst() {
        let last = entries.removeLast()
        guard !entries.isEmpty else { return }
        entries[0] = last
        siftDown(0)
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        let n = entries.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && entries[l].at < entries[m].at { m = l }
            if r < n && entries[r].at < entries[m].at { m = r }
            guard m != i else { return }
            entries.swapAt(i, m)
            i = m
        }
    }
}
