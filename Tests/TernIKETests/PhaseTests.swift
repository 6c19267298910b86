import Testing
@testable import TernIKE
import TernCrypto

/// The session's phase (IKESession+Phase.swift) holds per-phase data inline only for the
/// phases an IKE SA spends its life in; the handshake phases are boxed. Thousands of SAs
/// multiply every byte here (BENCHMARKS.md: RSS per IKE+CHILD SA).
@Suite struct PhaseTests {
    @Test func phaseAndWindowStaySmall() {
        print("IKEPhase \(MemoryLayout<IKEPhase>.size) B, IKESAKeying \(MemoryLayout<IKESAKeying>.size) B, "
              + "IKEMessageWindow \(MemoryLayout<IKEMessageWindow>.size) B")
        // What the phase replaced: the state, optional algorithms, IKESAKeys and two
        // protections, two nonces, two IKE_SA_INIT messages, the peer's auth capabilities and
        // how it authenticated.
        let replaced = 1 + MemoryLayout<NegotiatedAlgorithms?>.size + MemoryLayout<IKESAKeys?>.size
            + 2 * MemoryLayout<IKEPayloadProtection?>.size + 4 * MemoryLayout<[UInt8]>.size
            + MemoryLayout<PeerAuthCapabilities>.size + MemoryLayout<String>.size
        print("the fields IKEPhase replaced: \(replaced) B (unpadded)")
        #expect(MemoryLayout<IKEPhase>.size < replaced)
        #expect(MemoryLayout<IKEPhase>.size <= 96)
        #expect(MemoryLayout<InitPhase>.size > 0 && MemoryLayout<AuthPhase>.size > MemoryLayout<IKEPhase>.size)
        #expect(MemoryLayout<IKEMessageWindow>.size <= 48)
    }
}
