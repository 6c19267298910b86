/// The engine's only source of randomness (SPIs, nonces, IVs, DH secrets, jitter). Injected so
/// tests can replay a run exactly; the daemon passes the system generator.
public struct EngineRandom: RandomNumberGenerator, @unchecked Sendable {
    private final class State {
        var seeded: UInt64?
        init(_ seed: UInt64?) { seeded = seed }
    }
    private let state: State

    /// The operating system's CSPRNG (getrandom).
    public static func system() -> EngineRandom { EngineRandom(state: State(nil)) }

    /// Deterministic and NOT secure: for tests only (SplitMix64).
    public static func seeded(_ seed: UInt64) -> EngineRandom { EngineRandom(state: State(seed)) }

    private init(state: State) { self.state = state }

    /// An independent generator at the same position (a copied struct would share its state).
    func copied() -> EngineRandom { EngineRandom(state: State(state.seeded)) }

    public mutating func next() -> UInt64 {
        if var z = state.seeded {
            z &+= 0x9E37_79B9_7F4A_7C15
            state.seeded = z
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        var g = SystemRandomNumberGenerator()
        return g.next()
    }

    public mutating func bytes(_ n: Int) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(n + 8)
        while out.count < n {
            let v = next()
            withUnsafeBytes(of: v) { out.append(contentsOf: $0) }
        }
        return Array(out.prefix(n))
    }

    /// A non-zero 32-bit SPI (RFC 4303 reserves 1–255).
    public mutating func childSPI() -> UInt32 {
        while true {
            let v = UInt32(truncatingIfNeeded: next())
            if v > 255 { return v }
        }
    }

    public mutating func ikeSPI() -> UInt64 {
        while true {
            let v = next()
            if v != 0 { return v }
        }
    }

    /// Uniform jitter in [0, bound] seconds.
    public mutating func jitter(_ bound: UInt64) -> Double {
        bound == 0 ? 0 : Double(next() % (bound * 1000 + 1)) / 1000
    }
}
