// Single DES (FIPS 46-3), encryption of one block only: MS-CHAPv2's ChallengeResponse needs
// exactly that, and DES must not be used for anything else (56-bit keys fall to brute force).
// Written bit by bit from the standard's tables; speed does not matter for three blocks per login.

/// DES block encryption (FIPS 46-3), for MS-CHAPv2 only.
public enum DES {
    /// Encrypts one 8-byte block in ECB mode. `key8` is the 64-bit key form: the low bit of each
    /// byte is a parity bit that DES ignores (see `key8(fromKey7:)` for the 56-bit form).
    public static func encryptBlock(key8: [UInt8], block: [UInt8]) -> [UInt8] {
        precondition(key8.count == 8 && block.count == 8, "DES takes an 8-byte key and an 8-byte block")
        let subkeys = keySchedule(bigEndian(key8))
        let permuted = permute(bigEndian(block), width: 64, by: initialPermutation)
        var left = UInt32(truncatingIfNeeded: permuted >> 32)
        var right = UInt32(truncatingIfNeeded: permuted)
        for subkey in subkeys {
            (left, right) = (right, left ^ feistel(right, subkey))
        }
        // The last round's halves are not swapped back: the output is R16 || L16.
        let preoutput = UInt64(right) << 32 | UInt64(left)
        let output = permute(preoutput, width: 64, by: finalPermutation)
        return (0..<8).map { UInt8(truncatingIfNeeded: output >> UInt64(56 - 8 * $0)) }
    }

    /// Spreads a 56-bit key (7 bytes) over 8 bytes, 7 key bits in the high bits of each byte and
    /// an odd-parity bit in the low one: the form MS-CHAP's DesEncrypt (RFC 2759 §8.6) needs.
    public static func key8(fromKey7 key7: [UInt8]) -> [UInt8] {
        precondition(key7.count == 7, "a 56-bit DES key is 7 bytes")
        var bits: UInt64 = 0
        for byte in key7 { bits = bits << 8 | UInt64(byte) }
        return (0..<8).map { i in
            let sevenBits = UInt8(truncatingIfNeeded: bits >> UInt64(49 - 7 * i)) & 0x7F
            let high = sevenBits << 1
            return high | (high.nonzeroBitCount % 2 == 0 ? 1 : 0)
        }
    }

    private static func bigEndian(_ bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// FIPS tables number bits from 1 = most significant of a `width`-bit input; output bit 1
    /// (most significant) is input bit table[0], and so on.
    private static func permute(_ input: UInt64, width: Int, by table: [Int]) -> UInt64 {
        var output: UInt64 = 0
        for position in table {
            output = output << 1 | (input >> UInt64(width - position)) & 1
        }
        return output
    }

    /// The sixteen 48-bit round keys: PC-1 drops the parity bits, each round rotates both
    /// 28-bit halves left and PC-2 picks 48 of the 56 bits.
    private static func keySchedule(_ key: UInt64) -> [UInt64] {
        let selected = permute(key, width: 64, by: permutedChoice1)
        var c = UInt32(truncatingIfNeeded: selected >> 28) & 0x0FFF_FFFF
        var d = UInt32(truncatingIfNeeded: selected) & 0x0FFF_FFFF
        func rotate28(_ half: UInt32, _ count: Int) -> UInt32 {
            (half << UInt32(count) | half >> UInt32(28 - count)) & 0x0FFF_FFFF
        }
        return rotations.map { count in
            c = rotate28(c, count)
            d = rotate28(d, count)
            return permute(UInt64(c) << 28 | UInt64(d), width: 56, by: permutedChoice2)
        }
    }

    /// f(R, K): expand R to 48 bits, mix in the round key, S-boxes back to 32 bits, permute.
    private static func feistel(_ right: UInt32, _ subkey: UInt64) -> UInt32 {
        let mixed = permute(UInt64(right), width: 32, by: expansion) ^ subkey
        var substituted: UInt32 = 0
        for box in 0..<8 {
            let six = Int(mixed >> UInt64(42 - 6 * box)) & 0x3F
            // The outer two bits pick the row, the inner four the column.
            let row = (six >> 4) & 0b10 | six & 1
            let column = (six >> 1) & 0xF
            substituted = substituted << 4 | UInt32(sBoxes[box][row * 16 + column])
        }
        return UInt32(truncatingIfNeeded: permute(UInt64(substituted), width: 32, by: roundPermutation))
    }

    static let initialPermutation = [
        58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4,
        62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8,
        57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3,
        61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
    ]

    /// IP⁻¹, derived rather than typed in so it cannot disagree with IP.
    static let finalPermutation: [Int] = {
        var inverse = [Int](repeating: 0, count: 64)
        for (index, position) in initialPermutation.enumerated() { inverse[position - 1] = index + 1 }
        return inverse
    }()

    static let expansion = [
        32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17,
        16, 17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25, 24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
    ]

    static let roundPermutation = [
        16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10,
        2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
    ]

    static let permutedChoice1 = [
        57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18,
        10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36,
        63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22,
        14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
    ]

    static let permutedChoice2 = [
        14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, 23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2,
        41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, 44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
    ]

    static let rotations = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1]

    /// S1…S8, each four rows of sixteen.
    static let sBoxes: [[UInt8]] = [
        [14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7,
         0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8,
         4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0,
         15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13],
        [15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10,
         3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5,
         0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15,
         13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9],
        [10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8,
         13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1,
         13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7,
         1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12],
        [7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15,
         13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9,
         10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4,
         3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14],
        [2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9,
         14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6,
         4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14,
         11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3],
        [12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11,
         10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8,
         9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6,
         4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13],
        [4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1,
         13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6,
         1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2,
         6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12],
        [13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7,
         1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2,
         7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8,
         2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11],
    ]
}
