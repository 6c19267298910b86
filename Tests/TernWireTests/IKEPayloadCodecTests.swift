import Testing
@testable import TernWire

@Suite struct IKEPayloadRoundTripTests {
    @Test(arguments: IKESamples.everyClearPayload)
    func eachPayloadAlone(_ payload: IKEPayload) throws {
        let (first, bytes) = IKEPayloadCodec.encode([payload])
        #expect(first == payload.payloadType)
        #expect(try IKEPayloadCodec.decode(first: first, bytes[...]) == [payload])
    }

    @Test func wholeChainInOrder() throws {
        let (first, bytes) = IKEPayloadCodec.encode(IKESamples.everyClearPayload)
        #expect(first == IKEPayloadType.securityAssociation.rawValue)
        #expect(try IKEPayloadCodec.decode(first: first, bytes[...]) == IKESamples.everyClearPayload)
    }

    @Test func chainEndingInEncryptedPayloads() throws {
        for last in [IKEPayload.encrypted(firstInnerPayload: 35, body: [1, 2, 3]),
                     .encrypted(firstInnerPayload: 0, body: []),
                     .encryptedFragment(number: 2, total: 2, firstInnerPayload: 0, body: [4, 5, 6])] {
            let chain: [IKEPayload] = [.notify(IKENotify(type: .cookie, data: [1, 2])), last]
            let (first, bytes) = IKEPayloadCodec.encode(chain)
            #expect(try IKEPayloadCodec.decode(first: first, bytes[...]) == chain)
        }
    }

    @Test func emptyChain() throws {
        let (first, bytes) = IKEPayloadCodec.encode([])
        #expect(first == 0 && bytes.isEmpty)
        #expect(try IKEPayloadCodec.decode(first: 0, [][...]) == [])
    }

    @Test func unknownTransformAttributesSurvive() throws {
        // ENCR with key length and an unknown TLV attribute (type 99, 2 bytes) before it.
        var transform = IKETransform(type: 1, id: 20, keyLength: 128)
        transform.unknownAttributes = [0x00, 99, 0, 2, 0xaa, 0xbb]
        #expect(transform.hasUnknownAttributes)
        let payload = IKEPayload.securityAssociation([IKEProposal(number: 1, protocolID: 1, spi: [], transforms: [transform])])
        let (first, bytes) = IKEPayloadCodec.encode([payload])
        #expect(try IKEPayloadCodec.decode(first: first, bytes[...]) == [payload])

        var marked = IKETransform(type: 2, id: 5)
        marked.hasUnknownAttributes = true
        let markedPayload = IKEPayload.securityAssociation([IKEProposal(number: 1, protocolID: 1, spi: [], transforms: [marked])])
        let encoded = IKEPayloadCodec.encode([markedPayload])
        let decoded = try IKEPayloadCodec.decode(first: encoded.first, encoded.bytes[...])
        guard case .securityAssociation(let proposals) = decoded.first else { Issue.record("not an SA"); return }
        #expect(proposals[0].transforms[0].hasUnknownAttributes)
        #expect(proposals[0].transforms[0].keyLength == nil)
    }

    @Test func identificationRestOfPayload() {
        let id = IKEIdentification(type: 2, data: Array("sun".utf8))
        #expect(id.restOfPayload == [2, 0, 0, 0, 0x73, 0x75, 0x6e])
    }

    @Test func notifyNames() {
        #expect(IKENotifyType.noProposalChosen.description == "NO_PROPOSAL_CHOSEN")
        #expect(IKENotifyType.natDetectionSourceIP.description == "NAT_DETECTION_SOURCE_IP")
        #expect(IKENotifyType(rawValue: 12345).description == "NOTIFY(12345)")
        #expect(IKENotifyType.authenticationFailed.isError)
        #expect(!IKENotifyType.initialContact.isError)
    }

    @Test func payloadTypeNumbers() {
        #expect(IKEPayload.encryptedFragment(number: 1, total: 1, firstInnerPayload: 0, body: []).payloadType == 53)
        #expect(IKEPayload.eap([]).payloadType == 48)
        #expect(IKEPayload.unknown(type: 77, critical: true, body: []).payloadType == 77)
    }
}

/// Byte arrays written by hand from the RFC 7296 §3 diagrams.
@Suite struct IKEPayloadWireFormatTests {
    @Test func natDetectionNotify() throws {
        let hash = IKESamples.bytes(20, from: 0x40)
        // Next 0, length 28 | protocol 0, SPI size 0, type 16388 (0x4004) | 20-byte hash.
        let wire: [UInt8] = [0x00, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x04] + hash
        let payload = IKEPayload.notify(IKENotify(type: .natDetectionSourceIP, data: hash))
        #expect(try IKEPayloadCodec.decode(first: 41, wire[...]) == [payload])
        #expect(IKEPayloadCodec.encode([payload]).bytes == wire)
    }

    @Test func rekeyNotifyWithESPSPI() throws {
        // Next 0, length 12 | protocol 3 (ESP), SPI size 4, type 16393 (0x4009) | SPI.
        let wire: [UInt8] = [0x00, 0x00, 0x00, 0x0c, 0x03, 0x04, 0x40, 0x09, 0x11, 0x22, 0x33, 0x44]
        let payload = IKEPayload.notify(IKENotify(type: .rekeySA, protocolID: 3, spi: [0x11, 0x22, 0x33, 0x44]))
        #expect(try IKEPayloadCodec.decode(first: 41, wire[...]) == [payload])
        #expect(IKEPayloadCodec.encode([payload]).bytes == wire)
    }

    static let tsWire: [UInt8] = [
        0x00, 0x00, 0x00, 0x40,                          // next 0, length 64
        0x02, 0x00, 0x00, 0x00,                          // 2 selectors, reserved
        0x07, 0x06, 0x00, 0x10, 0x00, 0x00, 0xff, 0xff,  // IPv4, TCP, length 16, ports 0-65535
        0xc0, 0x00, 0x02, 0x00, 0xc0, 0x00, 0x02, 0xff,  // 192.0.2.0 - 192.0.2.255
        0x08, 0x11, 0x00, 0x28, 0x01, 0xf4, 0x01, 0xf4,  // IPv6, UDP, length 40, ports 500-500
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          // 2001:db8::
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,    // 2001:db8::ffff
    ]

    @Test func trafficSelectors() throws {
        let payload = IKEPayload.trafficSelectorInitiator([
            IKETrafficSelector(ipProtocol: 6, startAddress: IPAddress("192.0.2.0")!, endAddress: IPAddress("192.0.2.255")!),
            IKETrafficSelector(ipProtocol: 17, startPort: 500, endPort: 500,
                               startAddress: IPAddress("2001:db8::")!, endAddress: IPAddress("2001:db8::ffff")!),
        ])
        #expect(try IKEPayloadCodec.decode(first: 44, Self.tsWire[...]) == [payload])
        #expect(IKEPayloadCodec.encode([payload]).bytes == Self.tsWire)
    }

    static let saWire: [UInt8] = [
        0x00, 0x00, 0x00, 0x54,                          // next 0, length 84
        // Proposal 1 (more follow), length 44: #1 IKE, SPI size 0, 4 transforms
        0x02, 0x00, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x04,
        0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x0c, 0x80, 0x0e, 0x01, 0x00,  // ENCR_AES_CBC, 256 bits
        0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x05,                          // PRF_HMAC_SHA2_256
        0x03, 0x00, 0x00, 0x08, 0x03, 0x00, 0x00, 0x0c,                          // AUTH_HMAC_SHA2_256_128
        0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x1f,                          // Curve25519 (last)
        // Proposal 2 (last), length 36: #2 IKE, SPI size 0, 3 transforms
        0x00, 0x00, 0x00, 0x24, 0x02, 0x01, 0x00, 0x03,
        0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x14, 0x80, 0x0e, 0x00, 0x80,  // ENCR_AES_GCM_16, 128 bits
        0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x05,                          // PRF_HMAC_SHA2_256
        0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x13,                          // ECP-256 (last)
    ]

    static let saValue = IKEPayload.securityAssociation([
        IKEProposal(number: 1, protocolID: 1, spi: [], transforms: [
            IKETransform(type: 1, id: 12, keyLength: 256), IKETransform(type: 2, id: 5),
            IKETransform(type: 3, id: 12), IKETransform(type: 4, id: 31),
        ]),
        IKEProposal(number: 2, protocolID: 1, spi: [], transforms: [
            IKETransform(type: 1, id: 20, keyLength: 128), IKETransform(type: 2, id: 5), IKETransform(type: 4, id: 19),
        ]),
    ])

    @Test func securityAssociationWithTwoProposals() throws {
        #expect(try IKEPayloadCodec.decode(first: 33, Self.saWire[...]) == [Self.saValue])
        #expect(IKEPayloadCodec.encode([Self.saValue]).bytes == Self.saWire)
    }

    @Test func deleteOfTwoESPSPIs() throws {
        let wire: [UInt8] = [0x00, 0x00, 0x00, 0x10, 0x03, 0x04, 0x00, 0x02, 1, 2, 3, 4, 5, 6, 7, 8]
        let payload = IKEPayload.delete(IKEDelete(protocolID: 3, spis: [[1, 2, 3, 4], [5, 6, 7, 8]]))
        #expect(try IKEPayloadCodec.decode(first: 42, wire[...]) == [payload])
        #expect(IKEPayloadCodec.encode([payload]).bytes == wire)
    }

    @Test func configurationRequest() throws {
        // CFG_REQUEST with INTERNAL_IP4_ADDRESS (1) and INTERNAL_IP4_DNS (3), both empty.
        let wire: [UInt8] = [0x00, 0x00, 0x00, 0x10, 0x01, 0, 0, 0, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00]
        let payload = IKEPayload.configuration(type: 1, attributes: [IKEConfigurationAttribute(type: 1, value: []),
                                                                     IKEConfigurationAttribute(type: 3, value: [])])
        #expect(try IKEPayloadCodec.decode(first: 47, wire[...]) == [payload])
        #expect(IKEPayloadCodec.encode([payload]).bytes == wire)
    }

    @Test func encryptedFragmentHeader() throws {
        // SKF: next = IDi (35) in fragment 1, length 12, fragment 1 of 2, then 4 body bytes.
        let wire: [UInt8] = [0x23, 0x00, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x02, 0xde, 0xad, 0xbe, 0xef]
        let payload = IKEPayload.encryptedFragment(number: 1, total: 2, firstInnerPayload: 35, body: [0xde, 0xad, 0xbe, 0xef])
        #expect(try IKEPayloadCodec.decode(first: 53, wire[...]) == [payload])
        #expect(IKEPayloadCodec.encode([payload]).bytes == wire)
    }

    @Test func criticalBitOnlyOnUnknownPayloads() throws {
        let critical = rawPayload(next: 0, critical: true, [0xab])
        #expect(try IKEPayloadCodec.decode(first: 99, critical[...]) == [.unknown(type: 99, critical: true, body: [0xab])])
        #expect(IKEPayloadCodec.encode([.unknown(type: 99, critical: true, body: [0xab])]).bytes == critical)
        // A known payload with C set decodes as itself (§2.5: C only matters for unknown types).
        let vendor = rawPayload(next: 0, critical: true, [1, 2])
        #expect(try IKEPayloadCodec.decode(first: 43, vendor[...]) == [.vendorID([1, 2])])
        #expect(IKEPayloadCodec.encode([.vendorID([1, 2])]).bytes == rawPayload(next: 0, [1, 2]))
    }

    @Test func reservedBitsIgnored() throws {
        // Reserved generic-header bits and ID reserved bytes set: decoded, sent back as zero.
        let wire: [UInt8] = [0x00, 0x7f, 0x00, 0x09, 0x02, 0xff, 0xff, 0xff, 0x61]
        #expect(try IKEPayloadCodec.decode(first: 35, wire[...]) == [.identificationInitiator(IKEIdentification(type: 2, data: [0x61]))])
    }
}
