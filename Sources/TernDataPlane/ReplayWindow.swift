/// Anti-replay window (RFC 4303 §3.4.3 and Appendix A) as a ring of 64-bit words (RFC 6479):
/// sliding forward clears whole words instead of shifting the bitmap.
///
/// Two phases, so a forged packet costs no bitmap change: `check` before the ICV is verified
/// (cheap, no state change) and `commit` after it is authentic.
/// Single writer: only the inbound worker that owns the SA calls `check`/`commit`. The state
/// lives in raw memory so the control thread can read it (`top`, `bitmapHex`) without copying
/// or retaining anything the worker mutates; such reads are word-sized and may be a packet stale.
public final class ReplayWindow: @unchecked Sendable {
    public enum Verdict: Equatable, Sendable {
        /// Not seen and inside (or ahead of) the window; `sequence` is the full 64-bit number
        /// (with the inferred high half for ESN).
        case fresh(sequence: UInt64)
        case duplicate
        case tooOld
        case invalid  // sequence number 0 is never sent (RFC 4303 §3.3.3)
    }

    /// Window size in packets (0 disables replay checking but still tracks the top for ESN).
    public let size: Int
    public let extendedSequenceNumbers: Bool
    /// Highest authenticated sequence number received (0: none yet).
    public var top: UInt64 {
        get { storage.pointee }
        set { storage.pointee = newValue }
    }
    /// storage[0] is `top`; storage[1...] the bitmap ring.
    private let storage: UnsafeMutablePointer<UInt64>
    private let words: UnsafeMutablePointer<UInt64>
    private let wordCount: Int
    private let wordMask: UInt64

    public init(size: Int, extendedSequenceNumbers: Bool) {
        precondition(size >= 0 && size <= 1 << 20, "replay window size out of range")
        self.size = size
        self.extendedSequenceNumbers = extendedSequenceNumbers
        // One word more than the window so the word holding `top` never overlaps the oldest one.
        var count = 1
        while (count - 1) * 64 < size { count <<= 1 }
        storage = .allocate(capacity: count + 1)
        storage.initialize(repeating: 0, count: count + 1)
        words = storage + 1
        wordCount = count
        wordMask = UInt64(count - 1)
    }

    deinit { storage.deallocate() }

    /// Forgets every sequence number seen, as if the SA were new. For fuzzing and tests that
    /// reuse one SA across independent inputs; the data plane never calls it (an SA that
    /// forgot its window would accept replays).
    public func resetForReuse() {
        storage.update(repeating: 0, count: wordCount + 1)
    }

    /// The high 32 bits for a received low half (RFC 4303 Appendix A2.1). Without ESN they are 0.
    public func inferHigh(_ low: UInt32) -> UInt32 {
        guard extendedSequenceNumbers else { return 0 }
        let tl = UInt32(truncatingIfNeeded: top)
        let th = UInt32(truncatingIfNeeded: top >> 32)
        // A window of 0 still needs a notion of "behind": use the largest sane one.
        let w = UInt32(clamping: size == 0 ? 1 << 30 : size)
        if tl >= w &- 1 {
            // The window lies within one 2^32 subspace.
            return low >= tl &- w &+ 1 ? th : th &+ 1
        } else {
            // The window spans two subspaces.
            return low >= tl &- w &+ 1 ? th &- 1 : th
        }
    }

    /// Pre-check without changing state.
    public func check(low: UInt32) -> Verdict {
        let high = inferHigh(low)
        // Inference can point below zero (th - 1 with th == 0): that packet is too old.
        if extendedSequenceNumbers && high == UInt32.max && top >> 32 == 0 && low > UInt32(truncatingIfNeeded: top) {
            return .tooOld
        }
        let seq = UInt64(high) << 32 | UInt64(low)
        if seq == 0 { return .invalid }
        if seq > top || size == 0 { return .fresh(sequence: seq) }
        if top - seq >= UInt64(size) { return .tooOld }
        return bitIsSet(seq) ? .duplicate : .fresh(sequence: seq)
    }

    /// Records an authenticated packet. Returns false if it turned out to be a duplicate after all
    /// (another packet with the same number was committed between check and commit).
    @discardableResult
    public func commit(_ seq: UInt64) -> Bool {
        if size == 0 {
            if seq > top { top = seq }
            return true
        }
        if seq > top {
            let oldWord = top >> 6
            let newWord = seq >> 6
            let steps = min(newWord &- oldWord, UInt64(wordCount))
            var i: UInt64 = 1
            while i <= steps {
                words[Int((oldWord &+ i) & wordMask)] = 0
                i += 1
            }
            top = seq
        } else if top - seq >= UInt64(size) {
            return false
        }
        let index = Int((seq >> 6) & wordMask)
        let bit: UInt64 = 1 << (seq & 63)
        if words[index] & bit != 0 { return false }
        words[index] |= bit
        return true
    }

    func bitIsSet(_ seq: UInt64) -> Bool {
        words[Int((seq >> 6) & wordMask)] & (1 << (seq & 63)) != 0
    }

    /// The window's bitmap as `ip xfrm state` shows it: bit 0 is `top`, bit i is `top - i`.
    public var bitmapHex: String {
        guard size > 0, top > 0 else { return "0" }
        var bits = [Bool]()
        for i in 0..<UInt64(size) {
            if i >= top { bits.append(false); continue }
            bits.append(bitIsSet(top - i))
        }
        var out = ""
        var nibbleIndex = (bits.count + 3) / 4 - 1
        while nibbleIndex >= 0 {
            var v = 0
            for b in 0..<4 {
                let i = nibbleIndex * 4 + b
                if i < bits.count && bits[i] { v |= 1 << b }
            }
            out.append(String(v, radix: 16))
            nibbleIndex -= 1
        }
        while out.count > 1 && out.first == "0" { out.removeFirst() }
        return out
    }
}
