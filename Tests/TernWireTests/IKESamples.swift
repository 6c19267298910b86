@testable import TernWire

/// Sample IKE values shared by the IKE tests and the fuzz-corpus writer. Addresses come from
/// the documentation ranges.
enum IKESamples {
    static let v4a = IPAddress("192.0.2.1")!, v4b = IPAddress("192.0.2.254")!
    static let v6a = IPAddress("2001:db8::1")!, v6b = IPAddress("2001:db8::ffff")!

    static let ikeProposals: [IKEProposal] = [
        IKEProposal(number: 1, protocolID: IKEProtocolID.ike.rawValue, spi: [], transforms: [
            IKETransform(type: IKETransformType.encryption.rawValue, id: 20, keyLength: 256),
            IKETransform(type: IKETransformType.prf.rawValue, id: 5),
            IKETransform(type: IKETransformType.keyExchange.rawValue, id: 31),
        ]),
        IKEProposal(number: 2, protocolID: IKEProtocolID.ike.rawValue, spi: [], transforms: [
            IKETransform(type: IKETransformType.encryption.rawValue, id: 12, keyLength: 128),
            IKETransform(type: IKETransformType.prf.rawValue, id: 5),
            IKETransform(type: IKETransformType.integrity.rawValue, id: 12),
            IKETransform(type: IKETransformType.keyExchange.rawValue, id: 19),
        ]),
    ]

    static let espProposal = IKEProposal(number: 1, protocolID: IKEProtocolID.esp.rawValue,
                                         spi: [0xc1, 0x2a, 0x33, 0x44], transforms: [
        IKETransform(type: IKETransformType.encryption.rawValue, id: 20, keyLength: 256),
        IKETransform(type: IKETransformType.extendedSequenceNumbers.rawValue, id: 0),
    ])

    static func bytes(_ count: Int, from seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: Int(seed) &+ $0 &* 7) }
    }

    /// One payload of every kind the codec knows (SK/SKF separately: they end a chain).
    static let everyClearPayload: [IKEPayload] = [
        .securityAssociation(ikeProposals),
        .securityAssociation([espProposal]),
        .keyExchange(group: 31, data: bytes(32, from: 1)),
        .identificationInitiator(IKEIdentification(type: IKEIdentificationType.fqdn.rawValue, data: Array("moon.example".utf8))),
        .identificationResponder(IKEIdentification(type: IKEIdentificationType.ipv4Address.rawValue, data: [192, 0, 2, 1])),
        .certificate(encoding: IKECertificateEncoding.x509Signature.rawValue, data: bytes(40, from: 2)),
        .certificateRequest(encoding: IKECertificateEncoding.x509Signature.rawValue, data: bytes(20, from: 3)),
        .authentication(method: IKEAuthMethod.sharedKeyMIC.rawValue, data: bytes(32, from: 4)),
        .nonce(bytes(32, from: 5)),
        .notify(IKENotify(type: .natDetectionSourceIP, data: bytes(20, from: 6))),
        .notify(IKENotify(type: .rekeySA, protocolID: IKEProtocolID.esp.rawValue, spi: [1, 2, 3, 4])),
        .notify(IKENotify(type: IKENotifyType(rawValue: 40000))),
        .delete(IKEDelete(protocolID: IKEProtocolID.esp.rawValue, spis: [[1, 2, 3, 4], [5, 6, 7, 8]])),
        .delete(IKEDelete(protocolID: IKEProtocolID.ike.rawValue, spis: [])),
        .vendorID(Array("strongSwan".utf8)),
        .trafficSelectorInitiator([IKETrafficSelector(startAddress: v4a, endAddress: v4b),
                                   IKETrafficSelector(ipProtocol: 17, startPort: 500, endPort: 500,
                                                      startAddress: v6a, endAddress: v6b)]),
        .trafficSelectorResponder([IKETrafficSelector(ipProtocol: 6, startPort: 80, endPort: 443,
                                                      startAddress: v4b, endAddress: v4b)]),
        .configuration(type: IKEConfigurationType.request.rawValue, attributes: [
            IKEConfigurationAttribute(type: IKEConfigurationAttributeType.internalIP4Address.rawValue, value: []),
            IKEConfigurationAttribute(type: IKEConfigurationAttributeType.internalIP6Address.rawValue, value: bytes(17, from: 7)),
        ]),
        .eap([1, 7, 0, 5, 1]),
        .unknown(type: 200, critical: false, body: [9, 9]),
        .unknown(type: 201, critical: true, body: []),
    ]

    static func header(_ exchange: IKEExchangeType, flags: IKEHeaderFlags = .initiator, messageID: UInt32 = 0,
                       responderSPI: UInt64 = 0) -> IKEHeader {
        IKEHeader(initiatorSPI: 0x0123_4567_89ab_cdef, responderSPI: responderSPI, exchangeType: exchange.rawValue,
                  flags: flags, messageID: messageID)
    }

    static let ikeSAInitRequest = IKEMessage(header: header(.ikeSAInit), payloads: [
        .securityAssociation(ikeProposals),
        .keyExchange(group: 31, data: bytes(32, from: 11)),
        .nonce(bytes(32, from: 12)),
        .notify(IKENotify(type: .natDetectionSourceIP, data: bytes(20, from: 13))),
        .notify(IKENotify(type: .natDetectionDestinationIP, data: bytes(20, from: 14))),
        .notify(IKENotify(type: .ikev2FragmentationSupported)),
        .notify(IKENotify(type: .signatureHashAlgorithms, data: [0, 2, 0, 3, 0, 4])),
    ])

    static let ikeAuthRequest = IKEMessage(
        header: header(.ikeAuth, messageID: 1, responderSPI: 0xfedc_ba98_7654_3210),
        payloads: [.encrypted(firstInnerPayload: IKEPayloadType.identificationInitiator.rawValue,
                              body: bytes(8 + 120 + 16, from: 15))])

    static let ikeAuthFragment = IKEMessage(
        header: header(.ikeAuth, messageID: 1, responderSPI: 0xfedc_ba98_7654_3210),
        payloads: [.encryptedFragment(number: 1, total: 3, firstInnerPayload: IKEPayloadType.identificationInitiator.rawValue,
                                      body: bytes(8 + 500 + 16, from: 16))])

    static let informationalResponse = IKEMessage(
        header: header(.informational, flags: [.initiator, .response], messageID: 7, responderSPI: 1),
        payloads: [.encrypted(firstInnerPayload: 0, body: bytes(24, from: 17))])

    /// A cleartext message carrying every payload kind (as a decrypted SK body would).
    static let everyPayloadMessage = IKEMessage(header: header(.createChildSA, messageID: 2, responderSPI: 2),
                                                payloads: everyClearPayload)

    static let allMessages: [(name: String, message: IKEMessage)] = [
        ("ike-sa-init-request", ikeSAInitRequest), ("ike-auth-sk", ikeAuthRequest),
        ("ike-auth-skf", ikeAuthFragment), ("informational-response", informationalResponse),
        ("every-payload", everyPayloadMessage),
    ]
}

/// The error a decode throws, or nil when it succeeds.
func chainError(first: UInt8, _ bytes: [UInt8]) -> IKEDecodeError? {
    do { _ = try IKEPayloadCodec.decode(first: first, bytes[...]); return nil } catch { return error }
}

func messageError(_ bytes: [UInt8]) -> IKEDecodeError? {
    do { _ = try IKEMessage(decoding: bytes); return nil } catch { return error }
}

/// A generic payload header followed by `body`, with the length filled in.
func rawPayload(next: UInt8, critical: Bool = false, _ body: [UInt8]) -> [UInt8] {
    let length = body.count + 4
    return [next, critical ? 0x80 : 0, UInt8(length >> 8), UInt8(length & 0xff)] + body
}
