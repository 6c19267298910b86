import Testing
import TernIKE
import TernWire
@testable import TernDaemon

/// The bounded intake between the IKE socket readers and the engine.
@Suite struct IKEIntakeTests {
    static let a = SocketAddress(IPAddress("192.0.2.1")!, 500), b = SocketAddress(IPAddress("192.0.2.2")!, 500)

    /// An IKE header (RFC 7296 §3.1) with one payload header after it.
    static func datagram(responderSPI: UInt64 = 0, exchange: UInt8 = 34, response: Bool = false, firstPayload: UInt8 = 33,
                         notifyType: UInt16 = 0, size: Int = 64) -> [UInt8] {
        var d = [UInt8](repeating: 0, count: size)
        for i in 0..<8 { d[i] = 0x11; d[8 + i] = UInt8(truncatingIfNeeded: responderSPI >> (56 - 8 * UInt64(i))) }
        d[16] = firstPayload; d[17] = 0x20; d[18] = exchange; d[19] = response ? 0x20 : 0x08
        d[34] = UInt8(notifyType >> 8); d[35] = UInt8(notifyType & 0xFF)
        return d
    }

    @Test func classifiesByHeaderAlone() {
        #expect(IKEIntake.classify(Self.datagram()) == .new)
        #expect(IKEIntake.classify(Self.datagram(firstPayload: 41, notifyType: 16390)) == .established)   // returns a COOKIE
        #expect(IKEIntake.classify(Self.datagram(firstPayload: 41, notifyType: 16388)) == .new)           // another notify
        #expect(IKEIntake.classify(Self.datagram(responderSPI: 7, exchange: 35)) == .established)
        #expect(IKEIntake.classify(Self.datagram(response: true)) == .established)                         // INIT response
        #expect(IKEIntake.classify([1, 2, 3]) == .new)
    }

    @Test func fullClassesDropAndEstablishedComeFirst() {
        let intake = IKEIntake(established: 4, new: 3, maxBytes: 1 << 20)
        var schedules = 0
        for _ in 0..<10 {
            let r = intake.push(.init(bytes: Self.datagram(), from: Self.a, to: Self.b))
            if r.scheduleDrain { schedules += 1 }
        }
        for _ in 0..<2 { _ = intake.push(.init(bytes: Self.datagram(responderSPI: 9, exchange: 37), from: Self.a, to: Self.b)) }
        #expect(schedules == 1)
        #expect(intake.stats.depth == [2, 3] && intake.stats.dropped == [0, 7])
        // The flood of new IKE_SA_INITs waits behind the established SA's messages.
        let first = intake.pop(max: 3)
        #expect(first.map { IKEIntake.classify($0.bytes) } == [.established, .established, .new])
        #expect(intake.pop(max: 10).count == 2)
        #expect(intake.pop(max: 10).isEmpty)
        #expect(intake.push(.init(bytes: Self.datagram(), from: Self.a, to: Self.b)).scheduleDrain)
    }

    @Test func bytesAreBoundedToo() {
        let intake = IKEIntake(established: 100, new: 100, maxBytes: 10_000)
        for _ in 0..<20 { _ = intake.push(.init(bytes: Self.datagram(size: 1_000), from: Self.a, to: Self.b)) }
        #expect(intake.stats.depth[1] == 10 && intake.stats.queuedBytes == 10_000 && intake.stats.dropped[1] == 10)
        _ = intake.pop(max: 100)
        #expect(intake.stats.queuedBytes == 0)
    }
}
