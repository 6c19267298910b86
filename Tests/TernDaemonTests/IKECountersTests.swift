import Testing
import TernIKE
@testable import TernDaemon

@Suite struct IKECountersTests {
    /// A 28-byte IKE header (RFC 7296 §3.1) with the given exchange type and flags.
    func header(exchange: UInt8, flags: UInt8) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 28)
        h[0] = 1                 // initiator SPI, non-zero
        h[17] = 0x20             // version 2.0
        h[18] = exchange
        h[19] = flags
        return h
    }

    @Test func countsExchangesByTypeDirectionAndResponseFlag() {
        var c = IKECounters()
        c.count(message: header(exchange: 34, flags: 0x08), outbound: true)           // IKE_SA_INIT request, out
        c.count(message: header(exchange: 34, flags: 0x20), outbound: false)          // its response, in
        c.count(message: [0, 0, 0, 0] + header(exchange: 35, flags: 0x08), outbound: true)   // behind a non-ESP marker
        c.count(message: header(exchange: 37, flags: 0x20), outbound: true, connection: "to-b")
        c.count(message: header(exchange: 99, flags: 0), outbound: true)              // unknown exchange: ignored
        c.count(message: [1, 2, 3], outbound: false)                                  // truncated: ignored
        let snapshot = Dictionary(uniqueKeysWithValues: c.snapshot(stats: IKEEndpointStats()))
        #expect(snapshot["ike-init-out-req"] == 1 && snapshot["ike-init-in-resp"] == 1)
        #expect(snapshot["ike-auth-out-req"] == 1 && snapshot["info-out-resp"] == 1)
        #expect(snapshot.values.reduce(0, +) == 4)
        #expect(c.snapshot(stats: IKEEndpointStats()).map(\.0) == IKECounters.names)
        let toB = Dictionary(uniqueKeysWithValues: c.snapshot(connection: "to-b"))
        #expect(toB["info-out-resp"] == 1 && toB.values.reduce(0, +) == 1)
        #expect(IKECounters.spis([0, 0, 0, 0] + header(exchange: 34, flags: 0))?.0 == 1 << 56)
        var stats = IKEEndpointStats()
        stats.malformed = 5
        c.reset(stats: stats)
        stats.malformed = 7
        let after = Dictionary(uniqueKeysWithValues: c.snapshot(stats: stats))
        #expect(after["invalid"] == 2 && after["ike-init-out-req"] == 0)
    }
}
