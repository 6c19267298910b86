import Testing
@testable import TernWire

/// Malformed input must throw, with the offset of the offending field, and never trap.
@Suite struct IKEDecodeRejectionTests {
    let notify = rawPayload(next: 0, [0, 0, 0x40, 0x06])   // INITIAL_CONTACT, 8 bytes

    @Test func payloadLengthBelowHeader() {
        for length: UInt8 in [0, 1, 3] {
            let error = chainError(first: 41, [0, 0, 0, length, 0, 0, 0x40, 0x06])
            #expect(error?.offset == 2, "length \(length): \(String(describing: error))")
        }
    }

    @Test func payloadLengthBeyondInput() {
        var wire = notify
        wire[3] = 9
        #expect(chainError(first: 41, wire)?.offset == 2)
    }

    @Test func truncatedGenericHeader() {
        #expect(chainError(first: 41, [0, 0, 0])?.offset == 0)
        #expect(chainError(first: 41, [])?.offset == 0)
        // The first payload names a successor that is not there.
        var wire = notify
        wire[0] = 43
        #expect(chainError(first: 41, wire)?.offset == 8)
    }

    @Test func truncatedAtEveryLength() {
        let (first, bytes) = IKEPayloadCodec.encode(IKESamples.everyClearPayload)
        for cut in 0..<bytes.count {
            #expect(chainError(first: first, Array(bytes[..<cut])) != nil, "prefix of \(cut) bytes decoded")
        }
    }

    @Test func trailingBytesAfterLastPayload() {
        let error = chainError(first: 41, notify + [0xee])
        #expect(error?.offset == 8)
        #expect(error?.reason.contains("follow") == true)
    }

    @Test func encryptedPayloadNotLast() {
        // SK claiming 6 bytes while 2 more follow it.
        let wire = rawPayload(next: 0, [1, 2]) + [0xaa, 0xbb]
        let error = chainError(first: 46, wire)
        #expect(error?.offset == 6)
        #expect(error?.reason.contains("not the last") == true)
        // The same after a cleartext payload.
        var chain = notify
        chain[0] = 46
        #expect(chainError(first: 41, chain + wire)?.offset == 14)
    }

    @Test func encryptedFragmentNumbers() {
        #expect(chainError(first: 53, rawPayload(next: 0, [0, 0, 0, 2]))?.offset == 4)   // number 0
        #expect(chainError(first: 53, rawPayload(next: 0, [0, 3, 0, 2]))?.offset == 4)   // 3 of 2
        #expect(chainError(first: 53, rawPayload(next: 0, [0, 1]))?.offset == 4)         // no total
    }

    @Test func shortFixedBodies() {
        #expect(chainError(first: 34, rawPayload(next: 0, [0, 19, 0]))?.offset == 4)      // KE
        #expect(chainError(first: 35, rawPayload(next: 0, [2, 0]))?.offset == 4)          // IDi
        #expect(chainError(first: 37, rawPayload(next: 0, []))?.offset == 4)              // CERT
        #expect(chainError(first: 39, rawPayload(next: 0, [2]))?.offset == 4)             // AUTH
        #expect(chainError(first: 41, rawPayload(next: 0, [0, 0, 0x40]))?.offset == 4)    // N
        #expect(chainError(first: 42, rawPayload(next: 0, [3, 4]))?.offset == 4)          // D
        #expect(chainError(first: 47, rawPayload(next: 0, [1]))?.offset == 4)             // CP
    }

    @Test func nonceSize() {
        #expect(chainError(first: 40, rawPayload(next: 0, [UInt8](repeating: 1, count: 15))) != nil)
        #expect(chainError(first: 40, rawPayload(next: 0, [UInt8](repeating: 1, count: 257))) != nil)
        #expect(chainError(first: 40, rawPayload(next: 0, [UInt8](repeating: 1, count: 16))) == nil)
    }

    @Test func notifySPIBeyondBody() {
        #expect(chainError(first: 41, rawPayload(next: 0, [3, 4, 0x40, 0x09, 1, 2, 3]))?.offset == 5)
    }

    @Test func deleteSizeMismatch() {
        #expect(chainError(first: 42, rawPayload(next: 0, [3, 4, 0, 2, 1, 2, 3, 4]))?.offset == 6)
        #expect(chainError(first: 42, rawPayload(next: 0, [3, 4, 0, 1, 1, 2, 3, 4, 5]))?.offset == 6)
        #expect(chainError(first: 42, rawPayload(next: 0, [1, 0, 0, 0, 9]))?.offset == 8)
    }

    @Test func configurationAttributeOverrun() {
        #expect(chainError(first: 47, rawPayload(next: 0, [1, 0, 0, 0, 0, 1, 0, 4, 192, 0, 2]))?.offset == 10)
        #expect(chainError(first: 47, rawPayload(next: 0, [1, 0, 0, 0, 0, 1, 0]))?.offset == 8)
    }

    // MARK: Traffic selectors

    static var tsWire: [UInt8] { IKEPayloadWireFormatTests.tsWire }

    @Test func trafficSelectorCountMismatch() {
        var wire = Self.tsWire
        wire[4] = 3
        #expect(chainError(first: 44, wire)?.offset == 4)
        wire[4] = 1
        #expect(chainError(first: 44, wire)?.offset == 4)
    }

    @Test func trafficSelectorLengthNotMatchingType() {
        var wire = Self.tsWire
        wire[11] = 0x11          // IPv4 selector claiming 17 bytes
        #expect(chainError(first: 44, wire)?.offset == 10)
        wire = Self.tsWire
        wire[8] = 8              // IPv4-sized selector with the IPv6 type
        #expect(chainError(first: 44, wire)?.offset == 10)
    }

    @Test func unsupportedTrafficSelectorType() {
        var wire = Self.tsWire
        wire[8] = 10             // RFC 9478 security label
        let error = chainError(first: 44, wire)
        #expect(error?.offset == 8)
        #expect(error?.reason.contains("type 10") == true)
    }

    @Test func truncatedTrafficSelector() {
        let wire = Array(Self.tsWire[..<30])
        var fixed = wire
        fixed[3] = UInt8(wire.count)
        #expect(chainError(first: 44, fixed) != nil)
    }

    // MARK: Security association

    static var saWire: [UInt8] { IKEPayloadWireFormatTests.saWire }

    @Test func emptySecurityAssociation() {
        #expect(chainError(first: 33, rawPayload(next: 0, []))?.offset == 4)
    }

    @Test func proposalLastSubstructureMismatch() {
        var wire = Self.saWire
        wire[4] = 0              // first proposal claims to be the last
        #expect(chainError(first: 33, wire)?.offset == 4)
        wire = Self.saWire
        wire[48] = 2             // last proposal claims more follow
        #expect(chainError(first: 33, wire)?.offset == 48)
        wire = Self.saWire
        wire[4] = 3              // a transform's marker on a proposal
        #expect(chainError(first: 33, wire)?.offset == 4)
    }

    @Test func transformLastSubstructureMismatch() {
        var wire = Self.saWire
        wire[12] = 0             // first transform of proposal 1 claims to be last
        #expect(chainError(first: 33, wire)?.offset == 12)
        wire = Self.saWire
        wire[40] = 3             // last transform of proposal 1 claims more follow
        #expect(chainError(first: 33, wire)?.offset == 40)
    }

    @Test func transformCountMismatch() {
        var wire = Self.saWire
        wire[11] = 5
        #expect(chainError(first: 33, wire)?.offset == 11)
    }

    @Test func proposalNumbers() {
        var wire = Self.saWire
        wire[52] = 0             // second proposal numbered 0, below 1
        #expect(chainError(first: 33, wire)?.offset == 52)
        wire = Self.saWire
        wire[8] = 0              // first proposal numbered 0
        #expect(chainError(first: 33, wire)?.offset == 8)
        wire = Self.saWire
        wire[52] = 1             // equal numbers are allowed (strongSwan accepts them too)
        #expect(chainError(first: 33, wire) == nil)
    }

    @Test func proposalLengths() {
        var wire = Self.saWire
        wire[7] = 45             // proposal 1 one byte longer: its transforms no longer fit exactly
        #expect(chainError(first: 33, wire) != nil)
        wire = Self.saWire
        wire[7] = 7              // below the 8-byte proposal header
        #expect(chainError(first: 33, wire)?.offset == 6)
        wire = Self.saWire
        wire[15] = 7             // transform length below 8
        #expect(chainError(first: 33, wire)?.offset == 14)
    }

    @Test func spiSizeForProtocol() {
        let esp8: [UInt8] = [0, 0, 0, 16, 1, 3, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8]
        #expect(chainError(first: 33, rawPayload(next: 0, esp8))?.offset == 10)
        let ike4: [UInt8] = [0, 0, 0, 12, 1, 1, 4, 0, 1, 2, 3, 4]
        #expect(chainError(first: 33, rawPayload(next: 0, ike4))?.offset == 10)
        let esp4: [UInt8] = [0, 0, 0, 12, 1, 3, 4, 0, 1, 2, 3, 4]
        #expect(chainError(first: 33, rawPayload(next: 0, esp4)) == nil)
        let spiBeyond: [UInt8] = [0, 0, 0, 8, 1, 3, 4, 0]
        #expect(chainError(first: 33, rawPayload(next: 0, spiBeyond))?.offset == 10)
    }

    @Test func keyLengthAttributeRules() {
        // One proposal, one transform with the given attribute bytes.
        func sa(_ attributes: [UInt8]) -> [UInt8] {
            let transform: [UInt8] = [0, 0, 0, UInt8(8 + attributes.count), 1, 0, 0, 20] + attributes
            return rawPayload(next: 0, [0, 0, 0, UInt8(8 + transform.count), 1, 1, 0, 1] + transform)
        }
        #expect(chainError(first: 33, sa([0x80, 0x0e, 0x00, 0x80])) == nil)
        #expect(chainError(first: 33, sa([0x00, 0x0e, 0x00, 0x02, 0x00, 0x80]))?.offset == 20)      // TLV
        #expect(chainError(first: 33, sa([0x80, 0x0e, 0x00, 0x80, 0x80, 0x0e, 0x01, 0x00]))?.offset == 24)
        #expect(chainError(first: 33, sa([0x00, 0x63, 0x00, 0x09, 0x01]))?.offset == 22)            // TLV overrun
        #expect(chainError(first: 33, sa([0x80, 0x0e, 0x00]))?.offset == 20)                        // truncated
    }

    // MARK: Messages

    @Test func messageLengthMismatch() {
        var bytes = IKESamples.ikeSAInitRequest.encode()
        #expect(messageError(bytes) == nil)
        bytes.append(0)
        #expect(messageError(bytes)?.offset == 24)
        bytes.removeLast(2)
        #expect(messageError(bytes)?.offset == 24)
    }

    @Test func messageMajorVersion() {
        var bytes = IKESamples.ikeSAInitRequest.encode()
        bytes[17] = 0x30
        let error = messageError(bytes)
        #expect(error?.offset == 17)
        #expect(error?.reason.contains("major version") == true)
        // The header alone still decodes, so the engine can answer INVALID_MAJOR_VERSION.
        #expect((try? IKEHeader(decoding: bytes[...]))?.majorVersion == 3)
    }

    @Test func messageShorterThanHeader() {
        let bytes = IKESamples.ikeSAInitRequest.encode()
        for cut in [0, 1, 27] {
            #expect(messageError(Array(bytes[..<cut]))?.offset == 0)
        }
    }

    @Test func messagePayloadErrorsUseDatagramOffsets() {
        var bytes = IKESamples.ikeSAInitRequest.encode()
        bytes[IKEHeader.size + 2] = 0    // SA payload length 0
        bytes[IKEHeader.size + 3] = 3
        #expect(messageError(bytes)?.offset == IKEHeader.size + 2)
    }
}
