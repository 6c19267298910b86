import Testing
@testable import TernWire

@Suite struct IKEMessageTests {
    @Test(arguments: IKESamples.allMessages.map(\.name))
    func roundTrip(_ name: String) throws {
        let message = try #require(IKESamples.allMessages.first { $0.name == name }).message
        let bytes = message.encode()
        let decoded = try IKEMessage(decoding: bytes)
        #expect(decoded.payloads == message.payloads)
        #expect(decoded.header.length == UInt32(bytes.count))
        #expect(decoded.header.nextPayload == message.payloads.first?.payloadType ?? 0)
        #expect(decoded.encode() == bytes)
        let located = message.encodeLocatingEncryptedPayload()
        #expect(located.bytes == bytes)
        #expect(located.encryptedPayloadOffset == decoded.encryptedPayloadOffset)
    }

    @Test func headerWireFormat() throws {
        let header = IKEHeader(initiatorSPI: 0x0102_0304_0506_0708, responderSPI: 0x1112_1314_1516_1718, nextPayload: 33,
                               exchangeType: IKEExchangeType.ikeSAInit.rawValue, flags: [.initiator, .response],
                               messageID: 0x0a0b_0c0d, length: 0x1000)
        var out: [UInt8] = []
        header.encode(into: &out)
        #expect(out == [1, 2, 3, 4, 5, 6, 7, 8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                        33, 0x20, 34, 0x28, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0x10, 0])
        #expect(try IKEHeader(decoding: out[...]) == header)
        // Decoding reads the first 28 bytes of a longer slice, at its own start index.
        let longer = [0xff, 0xff] + out + [0xee]
        #expect(try IKEHeader(decoding: longer[2...]) == header)
    }

    @Test func unknownFlagBitsKept() throws {
        var bytes = IKESamples.ikeSAInitRequest.encode()
        bytes[19] = 0xff
        let decoded = try IKEMessage(decoding: bytes)
        #expect(decoded.header.flags.contains([.initiator, .response, .version]))
        #expect(decoded.encode() == bytes)
    }

    @Test func encryptedPayloadOffset() throws {
        let plain = try IKEMessage(decoding: IKESamples.ikeSAInitRequest.encode())
        #expect(plain.encryptedPayloadOffset == nil)

        let sk = try IKEMessage(decoding: IKESamples.ikeAuthRequest.encode())
        #expect(sk.encryptedPayloadOffset == IKEHeader.size)

        // SK after a cleartext notify: its generic header starts after the 8-byte notify.
        var message = IKESamples.ikeAuthRequest
        message.payloads.insert(.notify(IKENotify(type: .initialContact)), at: 0)
        let bytes = message.encode()
        let decoded = try IKEMessage(decoding: bytes)
        #expect(decoded.encryptedPayloadOffset == IKEHeader.size + 8)
        #expect(bytes[IKEHeader.size + 8] == IKEPayloadType.identificationInitiator.rawValue)
        #expect(decoded.payloads == message.payloads)
    }

    @Test func emptyMessage() throws {
        let message = IKEMessage(header: IKESamples.header(.informational), payloads: [])
        let bytes = message.encode()
        #expect(bytes.count == IKEHeader.size)
        #expect(bytes[16] == 0)
        #expect(try IKEMessage(decoding: bytes).payloads == [])
    }

    @Test func nonESPMarker() {
        #expect(IKEMessage.nonESPMarker == [0, 0, 0, 0])
    }
}
