// MD4 (RFC 1320), for MS-CHAPv2's NtPasswordHash only: MD4 is broken and nothing else here may
// use it. swift-crypto has no MD4, and OpenSSL 3 hides it in the legacy provider.

/// The MD4 message digest (RFC 1320).
public enum MD4 {
    /// The 16-byte MD4 digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var state: (UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476)
        // Padding (§3.1–3.2): 0x80, zeros up to 56 mod 64, then the bit length as 64 bits little-endian.
        var message = bytes
        message.append(0x80)
        while message.count % 64 != 56 { message.append(0) }
        let bitLength = UInt64(bytes.count) &* 8
        for shift in stride(from: 0, to: 64, by: 8) { message.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }

        var words = [UInt32](repeating: 0, count: 16)
        for blockStart in stride(from: 0, to: message.count, by: 64) {
            for i in 0..<16 {
                let at = blockStart + 4 * i
                words[i] = UInt32(message[at]) | UInt32(message[at + 1]) << 8
                    | UInt32(message[at + 2]) << 16 | UInt32(message[at + 3]) << 24
            }
            state = compress(state, words)
        }
        var digest: [UInt8] = []
        digest.reserveCapacity(16)
        for word in [state.0, state.1, state.2, state.3] {
            for shift in stride(from: 0, to: 32, by: 8) { digest.append(UInt8(truncatingIfNeeded: word >> UInt32(shift))) }
        }
        return digest
    }

    // §3.4: three rounds of 16 operations; each round walks the words in its own order and
    // rotates by the four amounts listed for it.
    private static let round2Order = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15]
    private static let round3Order = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15]

    private static func compress(
        _ state: (UInt32, UInt32, UInt32, UInt32), _ x: [UInt32]
    ) -> (UInt32, UInt32, UInt32, UInt32) {
        // Registers as an array so each step can address (a, b, c, d) by rotating indices.
        var r = [state.0, state.1, state.2, state.3]
        func step(_ i: Int, _ mixed: (UInt32, UInt32, UInt32) -> UInt32, _ word: UInt32, _ constant: UInt32, _ shift: Int) {
            // Step i updates register (4 - i % 4) % 4: a, d, c, b, a, ... with the other three as inputs.
            let a = (4 - i % 4) % 4
            let sum = r[a] &+ mixed(r[(a + 1) % 4], r[(a + 2) % 4], r[(a + 3) % 4]) &+ word &+ constant
            r[a] = sum << UInt32(shift) | sum >> UInt32(32 - shift)
        }
        let f: (UInt32, UInt32, UInt32) -> UInt32 = { x, y, z in (x & y) | (~x & z) }
        let g: (UInt32, UInt32, UInt32) -> UInt32 = { x, y, z in (x & y) | (x & z) | (y & z) }
        let h: (UInt32, UInt32, UInt32) -> UInt32 = { x, y, z in x ^ y ^ z }
        let shifts1 = [3, 7, 11, 19], shifts2 = [3, 5, 9, 13], shifts3 = [3, 9, 11, 15]
        for i in 0..<16 { step(i, f, x[i], 0, shifts1[i % 4]) }
        for i in 0..<16 { step(i, g, x[round2Order[i]], 0x5A82_7999, shifts2[i % 4]) }
        for i in 0..<16 { step(i, h, x[round3Order[i]], 0x6ED9_EBA1, shifts3[i % 4]) }
        return (state.0 &+ r[0], state.1 &+ r[1], state.2 &+ r[2], state.3 &+ r[3])
    }
}
