import Testing
@testable import TernWire

/// Datagrams captured from strongSwan 5.9.8 (Debian's charon), one charon initiating to
/// itself inside a private network namespace on 192.0.2.1 -> 192.0.2.2 (PSK, proposals
/// aes256gcm16-prfsha256-x25519 and aes128-sha256-ecp256), with tcpdump; the IKE_AUTH and
/// INFORMATIONAL datagrams went to port 4500 and are shown without their non-ESP marker.
/// The keys were ephemeral and are not recorded, so the SK bodies stay opaque.
enum StrongSwanCapture {
    static let ikeSAInitRequest = hexBytes([
        "6b38e3925ceae44700000000000000002120220800000000000001142200005402000024010100030300000c01000014",
        "800e01000300000802000005000000080400001f0000002c020100040300000c0100000c800e0080030000080300000c",
        "0300000802000005000000080400001328000028001f00004ba441ef0053bf3edfc55e84112b8cb72200837f4450c994",
        "0d0764afb1bd4001290000246e9b52aad73b597439c68a5cc17a16d8650f426517bb9f91a2a9fe1fbe033c712900001c",
        "000040041cdd77f324c4522ab14d7382f7b2fce7c15aff662900001c0000400587b66a2b2847d45e2a37a5d0a7c7fa7e",
        "2a720fc4290000080000402e290000100000402f00020003000400050000000800004016",
    ])

    static let ikeSAInitResponse = hexBytes([
        "6b38e3925ceae447bf4c3df6351ce79a2120222000000000000000f02200002800000024010100030300000c01000014",
        "800e01000300000802000005000000080400001f28000028001f0000f3d7b67ac3dbc50e3e33d5c2c4d5a4fc8de079e4",
        "082f82f81183d66404f97a2629000024285625ac77701b6a11709e36c035be11fc2ed32f6f35ab9aef58022d699081b3",
        "2900001c00004004ad74fe4040c9c08a04ff59169aacf61ce84cdeb62900001c00004005c497adf548158f50e21ccef7",
        "7e5cef8bdbcde3b1290000080000402e290000100000402f000200030004000529000008000040220000000800004014",
    ])

    static let ikeAuthRequest = hexBytes([
        "6b38e3925ceae447bf4c3df6351ce79a2e20230800000001000000b323000097f4238a00a0460c6e7e2bc96e01b30827",
        "856497bf8af2044413db22d77b8688da412f4b448006aa8edc25a4c7827f2dcfdb754074a0bae95c359762edd5da8273",
        "c1a03be19937eed008cc3b4edaa10981259d660b586164bdd3c7b6b8a33a348b4372e5d74ef4811352d1eeac8b0b3180",
        "7a539a2d055e3f5416c0a97761465ac60a96e0d0ef031c679225b361419cbaea0ca21a",
    ])

    static let ikeAuthResponse = hexBytes([
        "6b38e3925ceae447bf4c3df6351ce79a2e2023200000000100000082240000661d919f8303edecb27a6af916bb2cd354",
        "1337ab951127222ebc360ce331423954080241de9d461f54f61ec718b7c8ef1526b348643ba3fda8e7d5697d884e73fd",
        "4c082711c9192da495c85d8a79fae583099fbe2a7947b1d26e64f7c86a966030120c",
    ])

    static let informationalDeleteRequest = hexBytes([
        "6b38e3925ceae447bf4c3df6351ce79a2e20250800000002000000412a000025f4238a03a0460c6eca54b9c6f1f988f9",
        "64c3d745e4118a01cd5ca77e84295d18d2",
    ])

    static let informationalDeleteResponse = hexBytes([
        "6b38e3925ceae447bf4c3df6351ce79a2e20252000000002000000390000001d1d919f8003edecb297b02dc3e561e2ea",
        "821990b1003010939e",
    ])
}

func hexBytes(_ lines: [String]) -> [UInt8] {
    let digits = Array(lines.joined().utf8)
    func nibble(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : c - 0x61 + 10 }
    return stride(from: 0, to: digits.count, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
}

@Suite struct IKEStrongSwanCaptureTests {
    static let all: [(String, [UInt8])] = [
        ("IKE_SA_INIT request", StrongSwanCapture.ikeSAInitRequest),
        ("IKE_SA_INIT response", StrongSwanCapture.ikeSAInitResponse),
        ("IKE_AUTH request", StrongSwanCapture.ikeAuthRequest),
        ("IKE_AUTH response", StrongSwanCapture.ikeAuthResponse),
        ("INFORMATIONAL request", StrongSwanCapture.informationalDeleteRequest),
        ("INFORMATIONAL response", StrongSwanCapture.informationalDeleteResponse),
    ]

    @Test func everyDatagramDecodesAndReencodesIdentically() throws {
        for (name, bytes) in Self.all {
            let message = try IKEMessage(decoding: bytes)
            #expect(message.encode() == bytes, "\(name)")
        }
    }

    @Test func ikeSAInitRequest() throws {
        let message = try IKEMessage(decoding: StrongSwanCapture.ikeSAInitRequest)
        #expect(message.header.initiatorSPI == 0x6b38_e392_5cea_e447)
        #expect(message.header.responderSPI == 0)
        #expect(message.header.exchangeType == IKEExchangeType.ikeSAInit.rawValue)
        #expect(message.header.flags == .initiator)
        #expect(message.header.messageID == 0)
        #expect(message.encryptedPayloadOffset == nil)
        #expect(message.payloads.map(\.payloadType) == [33, 34, 40, 41, 41, 41, 41, 41])

        let expectedSA = IKEPayload.securityAssociation([
            IKEProposal(number: 1, protocolID: 1, spi: [], transforms: [
                IKETransform(type: 1, id: 20, keyLength: 256),   // ENCR_AES_GCM_16
                IKETransform(type: 2, id: 5),                    // PRF_HMAC_SHA2_256
                IKETransform(type: 4, id: 31),                   // Curve25519
            ]),
            IKEProposal(number: 2, protocolID: 1, spi: [], transforms: [
                IKETransform(type: 1, id: 12, keyLength: 128),   // ENCR_AES_CBC
                IKETransform(type: 3, id: 12),                   // AUTH_HMAC_SHA2_256_128
                IKETransform(type: 2, id: 5),
                IKETransform(type: 4, id: 19),                   // ECP-256
            ]),
        ])
        #expect(message.payloads[0] == expectedSA)
        guard case .keyExchange(let group, let keyData) = message.payloads[1],
              case .nonce(let nonce) = message.payloads[2] else {
            Issue.record("KE and Ni expected: \(message.payloads)"); return
        }
        #expect(group == 31 && keyData.count == 32)
        #expect(nonce.count == 32)
        let notifies = message.payloads.compactMap { payload -> IKENotify? in
            if case .notify(let n) = payload { n } else { nil }
        }
        #expect(notifies.map(\.type) == [.natDetectionSourceIP, .natDetectionDestinationIP,
                                         .ikev2FragmentationSupported, .signatureHashAlgorithms, .redirectSupported])
        #expect(notifies[0].data.count == 20 && notifies[1].data.count == 20)
        #expect(notifies[3].data == [0, 2, 0, 3, 0, 4, 0, 5])   // SHA2-256, -384, -512, Identity
    }

    @Test func ikeSAInitResponse() throws {
        let message = try IKEMessage(decoding: StrongSwanCapture.ikeSAInitResponse)
        #expect(message.header.responderSPI == 0xbf4c_3df6_351c_e79a)
        #expect(message.header.flags == .response)
        guard case .securityAssociation(let proposals) = message.payloads.first else {
            Issue.record("SA expected first"); return
        }
        #expect(proposals.count == 1 && proposals[0].number == 1 && proposals[0].transforms.count == 3)
        #expect(message.payloads.contains(.notify(IKENotify(type: .childlessIKEv2Supported))))
        #expect(message.payloads.last == .notify(IKENotify(type: IKENotifyType(rawValue: 16404))))   // MULTIPLE_AUTH_SUPPORTED
    }

    @Test func encryptedExchanges() throws {
        let cases: [([UInt8], IKEExchangeType, UInt8, UInt32)] = [
            (StrongSwanCapture.ikeAuthRequest, .ikeAuth, IKEPayloadType.identificationInitiator.rawValue, 1),
            (StrongSwanCapture.ikeAuthResponse, .ikeAuth, IKEPayloadType.identificationResponder.rawValue, 1),
            (StrongSwanCapture.informationalDeleteRequest, .informational, IKEPayloadType.delete.rawValue, 2),
            (StrongSwanCapture.informationalDeleteResponse, .informational, 0, 2),
        ]
        for (bytes, exchange, firstInner, messageID) in cases {
            let message = try IKEMessage(decoding: bytes)
            #expect(message.header.exchangeType == exchange.rawValue)
            #expect(message.header.messageID == messageID)
            #expect(message.encryptedPayloadOffset == IKEHeader.size)
            guard case .encrypted(let inner, let body) = message.payloads.first, message.payloads.count == 1 else {
                Issue.record("one SK payload expected: \(message.payloads)"); continue
            }
            #expect(inner == firstInner)
            #expect(body.count == bytes.count - IKEHeader.size - 4)
        }
    }
}
