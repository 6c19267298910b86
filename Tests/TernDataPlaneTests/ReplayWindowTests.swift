import Testing
@testable import TernDataPlane
import TernTestSupport

/// A slow, obviously correct model of RFC 4303 §3.4.3 + Appendix A to check the ring against.
struct ReferenceReplay {
    let size: UInt64
    let esn: Bool
    var top: UInt64 = 0
    var seen = Set<UInt64>()

    func full(_ low: UInt32) -> UInt64? {
        guard esn else { return UInt64(low) }
        // RFC 4303 Appendix A2: the received number is the one congruent to `low` modulo 2^32
        // in [top - W + 1, top - W + 1 + 2^32).
        let base = Int(top) - Int(size) + 1
        let offset = (Int(low) - base) & 0xffff_ffff
        let candidate = base + offset
        return candidate <= 0 ? nil : UInt64(candidate)
    }

    mutating func receive(_ low: UInt32) -> Bool {
        guard let s = full(low), s != 0 else { return false }
        if size > 0 {
            if s <= top && (top - s >= size || seen.contains(s)) { return false }
        }
        seen.insert(s)
        if s > top { top = s }
        return true
    }
}

@Suite struct ReplayWindowTests {
    func accept(_ w: ReplayWindow, _ low: UInt32) -> Bool {
        guard case .fresh(let s) = w.check(low: low) else { return false }
        return w.commit(s)
    }

    @Test func sequenceZeroIsNeverAccepted() {
        let w = ReplayWindow(size: 64, extendedSequenceNumbers: false)
        #expect(w.check(low: 0) == .invalid)
        #expect(accept(w, 1))
    }

    @Test func duplicatesAndWindowEdge() {
        let w = ReplayWindow(size: 128, extendedSequenceNumbers: false)
        #expect(accept(w, 200))
        #expect(!accept(w, 200))                       // duplicate of top
        #expect(accept(w, 73))                         // 200 - 127: last slot inside
        #expect(w.check(low: 72) == .tooOld)           // 200 - 128: just outside
        #expect(!accept(w, 73))
        #expect(accept(w, 199))
    }

    @Test func checkDoesNotChangeState() {
        let w = ReplayWindow(size: 64, extendedSequenceNumbers: false)
        #expect(w.check(low: 10) == .fresh(sequence: 10))
        #expect(w.check(low: 10) == .fresh(sequence: 10))
        #expect(w.top == 0)
    }

    @Test func farJumpClearsTheRing() {
        let w = ReplayWindow(size: 256, extendedSequenceNumbers: false)
        for s in UInt32(1)...300 { #expect(accept(w, s)) }
        #expect(accept(w, 1_000_000))
        // Everything in the new window is fresh although those ring words held old bits.
        for s in UInt32(1_000_000 - 255)..<1_000_000 { #expect(w.check(low: s) == .fresh(sequence: UInt64(s))) }
        #expect(w.check(low: 1_000_000 - 256) == .tooOld)
    }

    @Test func esnCrossesTwoToTheThirtyTwo() {
        let w = ReplayWindow(size: 128, extendedSequenceNumbers: true)
        // From top 0 a number just below 2^32 reads as "before the start" (RFC 4303 A2.1), so first
        // move the window forward within subspace 0.
        #expect(!accept(w, UInt32.max - 10))
        #expect(accept(w, 1000))
        #expect(accept(w, UInt32.max - 10))
        #expect(accept(w, 5))                          // wraps into high = 1
        #expect(w.top == 1 << 32 | 5)
        #expect(accept(w, UInt32.max - 3))             // late packet from the old subspace, inside the window
        #expect(!accept(w, UInt32.max - 10))           // duplicate across the wrap
        // Below the window's bottom while the window spans the wrap: RFC 4303 A2.1 reads it as the
        // next subspace (far ahead); only the ICV check can reject it.
        #expect(w.check(low: UInt32.max - 200) == .fresh(sequence: 1 << 32 | UInt64(UInt32.max - 200)))
        // The window's bottom edge: top - 127 is the oldest number still inside…
        #expect(w.check(low: UInt32(5) &- 127) == .fresh(sequence: UInt64(UInt32(5) &- 127)))
        // …and one below it already belongs to the next subspace.
        #expect(w.check(low: UInt32(5) &- 128) == .fresh(sequence: 1 << 32 | UInt64(UInt32(5) &- 128)))
    }

    @Test func disabledWindowAcceptsEverythingButZero() {
        let w = ReplayWindow(size: 0, extendedSequenceNumbers: false)
        #expect(accept(w, 5)); #expect(accept(w, 5)); #expect(accept(w, 1))
        #expect(w.check(low: 0) == .invalid)
    }

    @Test(arguments: [(64, false), (128, false), (4096, false), (128, true), (1024, true)])
    func agreesWithReferenceOnRandomTraffic(size: Int, esn: Bool) {
        var rng = SeededBytes(seed: UInt64(size) &* 31 &+ (esn ? 7 : 0))
        let w = ReplayWindow(size: size, extendedSequenceNumbers: esn)
        var ref = ReferenceReplay(size: UInt64(size), esn: esn)
        // Start near the 2^32 boundary when ESN is on so the walk crosses it.
        var cursor: UInt64 = esn ? UInt64(UInt32.max) - 3000 : 1
        for _ in 0..<20_000 {
            let r = rng.next()
            switch r % 10 {
            case 0...5: cursor += r % 4 + 1                        // mostly in order
            case 6, 7: break                                       // duplicates of the cursor
            case 8: cursor += r % UInt64(3 * size + 1)             // jumps ahead
            default: cursor -= min(cursor - 1, r % UInt64(2 * size + 1))           // late packets
            }
            if !esn && cursor > UInt64(UInt32.max) { break }
            let low = UInt32(truncatingIfNeeded: cursor)
            let expected = ref.receive(low)
            #expect(accept(w, low) == expected, "seq \(cursor) (low \(low))")
            if accept(w, low) != false { Issue.record("second delivery of \(cursor) accepted") }
        }
        #expect(w.top == ref.top)
    }

    @Test func bitmapShowsRecentPackets() {
        let w = ReplayWindow(size: 32, extendedSequenceNumbers: false)
        for s: UInt32 in [1, 2, 4] { _ = accept(w, s) }
        // bit 0 = 4, bit 2 = 2, bit 3 = 1  →  0b1101
        #expect(w.bitmapHex == "d")
    }
}
