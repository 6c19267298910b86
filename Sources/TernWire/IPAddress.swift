/// An IPv4 or IPv6 address as 16 bytes in network order (IPv4 uses the first 4), so that
/// hashing, comparison and prefix tests are one code path for both families.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public enum Family: UInt8, Sendable { case v4 = 4, v6 = 6 }

    public let family: Family
    /// Network-order address, high 64 bits then low 64 bits (IPv4: in the top 32 bits of `high`).
    public let high: UInt64
    public let low: UInt64

    public init(v4 value: UInt32) {
        family = .v4; high = UInt64(value) << 32; low = 0
    }

    public init(v6High: UInt64, low: UInt64) {
        family = .v6; high = v6High; self.low = low
    }

    public init?(bytes: some Collection<UInt8>) {
        let b = Array(bytes)
        switch b.count {
        case 4:
            self.init(v4: UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3]))
        case 16:
            var h: UInt64 = 0, l: UInt64 = 0
            for i in 0..<8 { h = h << 8 | UInt64(b[i]) }
            for i in 8..<16 { l = l << 8 | UInt64(b[i]) }
            self.init(v6High: h, low: l)
        default:
            return nil
        }
    }

    /// Reads an address of `family` from raw memory (network order).
    @inlinable
    public init(reading p: UnsafeRawPointer, family: Family) {
        if family == .v4 {
            self.init(v4: UInt32(bigEndian: p.loadUnaligned(as: UInt32.self)))
        } else {
            self.init(v6High: UInt64(bigEndian: p.loadUnaligned(as: UInt64.self)),
                      low: UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
    }

    @inlinable
    public func write(to p: UnsafeMutableRawPointer) {
        if family == .v4 {
            p.storeBytes(of: v4Value.bigEndian, as: UInt32.self)
        } else {
            p.storeBytes(of: high.bigEndian, as: UInt64.self)
            p.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
    }

    public var v4Value: UInt32 { UInt32(truncatingIfNeeded: high >> 32) }
    public var byteCount: Int { family == .v4 ? 4 : 16 }
    public var bitCount: Int { family == .v4 ? 32 : 128 }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        out.withUnsafeMutableBytes { write(to: $0.baseAddress!) }
        return out
    }

    public var isUnspecified: Bool { high == 0 && low == 0 }

    public static func unspecified(_ family: Family) -> IPAddress {
        family == .v4 ? IPAddress(v4: 0) : IPAddress(v6High: 0, low: 0)
    }

    /// Bit `index` counted from the most significant bit of the address.
    @inlinable
    public func bit(_ index: Int) -> Bool {
        index < 64 ? (high >> UInt64(63 - index)) & 1 == 1 : (low >> UInt64(127 - index)) & 1 == 1
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        (a.family.rawValue, a.high, a.low) < (b.family.rawValue, b.high, b.low)
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (with `::` and an embedded IPv4 tail).
    public init?(_ text: Substring) { self.init(String(text)) }

    public init?(_ text: String) {
        if text.contains(":") {
            guard let v = IPAddress.parseV6(text) else { return nil }
            self = v
        } else {
            guard let v = IPAddress.parseV4(text) else { return nil }
            self.init(v4: v)
        }
    }

    static func parseV4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let octet = UInt32(part), octet <= 255 else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    static func parseV6(_ text: String) -> IPAddress? {
        var groups: [UInt16] = []
        var tailV4: UInt32?
        let halves = splitOnDoubleColon(text)
        guard halves.count <= 2 else { return nil }
        func parseGroups(_ s: String, allowV4Tail: Bool) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            let fields = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, f) in fields.enumerated() {
                if allowV4Tail && i == fields.count - 1 && f.contains(".") {
                    guard let v4 = parseV4(String(f)) else { return nil }
                    tailV4 = v4
                    out.append(UInt16(v4 >> 16)); out.append(UInt16(v4 & 0xffff))
                    continue
                }
                guard (1...4).contains(f.count), let g = UInt16(f, radix: 16) else { return nil }
                out.append(g)
            }
            return out
        }
        if halves.count == 2 {
            guard let head = parseGroups(halves[0], allowV4Tail: false),
                  let tail = parseGroups(halves[1], allowV4Tail: true),
                  head.count + tail.count <= 7 else { return nil }
            groups = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard let all = parseGroups(halves[0], allowV4Tail: true), all.count == 8 else { return nil }
            groups = all
        }
        _ = tailV4
        var h: UInt64 = 0, l: UInt64 = 0
        for i in 0..<4 { h = h << 16 | UInt64(groups[i]) }
        for i in 4..<8 { l = l << 16 | UInt64(groups[i]) }
        return IPAddress(v6High: h, low: l)
    }

    private static func splitOnDoubleColon(_ text: String) -> [String] {
        var parts: [String] = [], current = "", previous: Character? = nil
        for c in text {
            if c == ":" && previous == ":" {
                current.removeLast(); parts.append(current); current = ""; previous = nil; continue
            }
            current.append(c); previous = c
        }
        parts.append(current)
        return parts
    }

    public var description: String {
        if family == .v4 {
            let v = v4Value
            return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
        }
        var groups: [UInt16] = []
        for i in 0..<4 { groups.append(UInt16(truncatingIfNeeded: high >> UInt64(48 - 16 * i))) }
        for i in 0..<4 { groups.append(UInt16(truncatingIfNeeded: low >> UInt64(48 - 16 * i))) }
        // RFC 5952: compress the longest run (length ≥ 2) of zero groups, the first one on ties.
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        func hex(_ r: ArraySlice<UInt16>) -> String { r.map { String($0, radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(groups[...]) }
        return hex(groups[0..<bestStart]) + "::" + hex(groups[(bestStart + bestLen)...])
    }
}

/// An address prefix such as `198.51.100.0/24` or `2001:db8::/32`.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress   // host bits cleared
    public let length: Int

    public init(_ address: IPAddress, length: Int) {
        precondition(length >= 0 && length <= address.bitCount, "prefix length out of range")
        self.length = length
        self.address = IPPrefix.masked(address, length)
    }

    public init(host address: IPAddress) { self.init(address, length: address.bitCount) }

    public static func any(_ family: IPAddress.Family) -> IPPrefix {
        IPPrefix(.unspecified(family), length: 0)
    }

    public var family: IPAddress.Family { address.family }
    public var isHost: Bool { length == address.bitCount }

    static func masked(_ a: IPAddress, _ length: Int) -> IPAddress {
        let bits = a.bitCount
        let hiMaskBits = min(length, 64)
        let loMaskBits = max(0, length - 64)
        let hiMask: UInt64 = hiMaskBits == 0 ? 0 : ~0 << UInt64(64 - hiMaskBits)
        let loMask: UInt64 = loMaskBits == 0 ? 0 : ~0 << UInt64(64 - loMaskBits)
        if bits == 32 { return IPAddress(v4: UInt32(truncatingIfNeeded: (a.high & hiMask) >> 32)) }
        return IPAddress(v6High: a.high & hiMask, low: a.low & loMask)
    }

    @inlinable
    public func contains(_ a: IPAddress) -> Bool {
        guard a.family == address.family else { return false }
        if length == 0 { return true }
        if length <= 64 {
            let mask: UInt64 = ~0 << UInt64(64 - length)
            return a.high & mask == address.high
        }
        let mask: UInt64 = ~0 << UInt64(128 - length)
        return a.high == address.high && a.low & mask == address.low
    }

    /// Parses `addr`, `addr/len`.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let a = IPAddress(parts[0]) else { return nil }
        if parts.count == 2 {
            guard let l = Int(parts[1]), l >= 0, l <= a.bitCount else { return nil }
            self.init(a, length: l)
        } else {
            self.init(host: a)
        }
    }

    public var description: String { "\(address)/\(length)" }
}
