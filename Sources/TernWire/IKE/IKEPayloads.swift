/// IKEv2 payloads as values (RFC 7296 §3.2–§3.16, RFC 7383 §2.5). Code points are kept raw
/// (UInt8/UInt16) so that whatever a peer sends survives decoding; the enums in
/// IKEConstants.swift name the known ones. Wire formats are in IKEPayloadCodec.swift.

/// One transform of a proposal (§3.3.2). Key Length (attribute 14, TV format) is the only
/// attribute defined; any other attribute is kept in `unknownAttributes` as received, because
/// §3.3.6 says a transform with an unknown attribute must be rejected (skipped) by the
/// negotiation, not by the parser.
public struct IKETransform: Sendable, Hashable {
    public var type: UInt8
    public var id: UInt16
    public var keyLength: UInt16?
    /// Attributes other than Key Length, in wire format (TV or TLV, back to back). Re-encoded
    /// after the Key Length attribute.
    public var unknownAttributes: [UInt8]

    public init(type: UInt8, id: UInt16, keyLength: UInt16? = nil) {
        self.type = type; self.id = id; self.keyLength = keyLength; self.unknownAttributes = []
    }

    /// True when the transform carries an attribute Tern does not know: the engine must not
    /// select it. Setting it to true (for tests) adds a reserved TV attribute of type 0.
    public var hasUnknownAttributes: Bool {
        get { !unknownAttributes.isEmpty }
        set {
            if !newValue { unknownAttributes = [] } else if unknownAttributes.isEmpty { unknownAttributes = [0x80, 0, 0, 0] }
        }
    }
}

/// One proposal of an SA payload (§3.3.1). The SPI size is `spi.count`.
public struct IKEProposal: Sendable, Hashable {
    public var number: UInt8
    public var protocolID: UInt8
    public var spi: [UInt8]
    public var transforms: [IKETransform]

    public init(number: UInt8, protocolID: UInt8, spi: [UInt8], transforms: [IKETransform]) {
        self.number = number; self.protocolID = protocolID; self.spi = spi; self.transforms = transforms
    }
}

/// The body of an IDi/IDr payload (§3.5).
public struct IKEIdentification: Sendable, Hashable {
    public var type: UInt8
    public var data: [UInt8]

    public init(type: UInt8, data: [UInt8]) { self.type = type; self.data = data }

    /// IDType ‖ RESERVED(3) ‖ data: the "RestOfIDPayload" bytes that AUTH signs (RFC 7296 §2.15).
    /// The reserved bytes are zero, as we send them; a peer signs what it sent, and §3.5 makes
    /// them zero on the wire too.
    public var restOfPayload: [UInt8] { [type, 0, 0, 0] + data }
}

/// The body of a Notify payload (§3.10). The SPI size is `spi.count`.
public struct IKENotify: Sendable, Hashable {
    public var protocolID: UInt8
    public var spi: [UInt8]
    public var type: IKENotifyType
    public var data: [UInt8]

    public init(type: IKENotifyType, protocolID: UInt8 = 0, spi: [UInt8] = [], data: [UInt8] = []) {
        self.type = type; self.protocolID = protocolID; self.spi = spi; self.data = data
    }
}

/// The body of a Delete payload (§3.11). The SPI size comes from the SPIs (none for an IKE
/// SA); encoding SPIs of different sizes is a programmer error.
public struct IKEDelete: Sendable, Hashable {
    public var protocolID: UInt8
    public var spis: [[UInt8]]

    public init(protocolID: UInt8, spis: [[UInt8]]) { self.protocolID = protocolID; self.spis = spis }
}

/// One traffic selector (§3.13.1). The TS type (7 for IPv4, 8 for IPv6) follows the address
/// family; start and end of different families is a programmer error when encoding.
public struct IKETrafficSelector: Sendable, Hashable {
    public var ipProtocol: UInt8
    public var startPort: UInt16
    public var endPort: UInt16
    public var startAddress: IPAddress
    public var endAddress: IPAddress

    public init(ipProtocol: UInt8 = 0, startPort: UInt16 = 0, endPort: UInt16 = 65535,
                startAddress: IPAddress, endAddress: IPAddress) {
        self.ipProtocol = ipProtocol; self.startPort = startPort; self.endPort = endPort
        self.startAddress = startAddress; self.endAddress = endAddress
    }
}

/// One configuration attribute (§3.15.1). `type` is 15 bits; `value` may be empty (a request).
public struct IKEConfigurationAttribute: Sendable, Hashable {
    public var type: UInt16
    public var value: [UInt8]

    public init(type: UInt16, value: [UInt8]) { self.type = type; self.value = value }
}

/// One payload of a chain. The generic payload header (next payload, critical bit, length) is
/// not stored: the codec derives it from the chain's order.
public enum IKEPayload: Sendable, Hashable {
    case securityAssociation([IKEProposal])
    case keyExchange(group: UInt16, data: [UInt8])
    case identificationInitiator(IKEIdentification)
    case identificationResponder(IKEIdentification)
    case certificate(encoding: UInt8, data: [UInt8])
    case certificateRequest(encoding: UInt8, data: [UInt8])
    case authentication(method: UInt8, data: [UInt8])
    case nonce([UInt8])
    case notify(IKENotify)
    case delete(IKEDelete)
    case vendorID([UInt8])
    case trafficSelectorInitiator([IKETrafficSelector])
    case trafficSelectorResponder([IKETrafficSelector])
    case configuration(type: UInt8, attributes: [IKEConfigurationAttribute])
    /// The EAP message as is (RFC 3748 framing is the EAP layer's business).
    case eap([UInt8])
    /// SK (§3.14): body = IV ‖ ciphertext ‖ ICV, opaque here. Always the last payload; its
    /// generic header's Next Payload is the type of the first payload inside.
    case encrypted(firstInnerPayload: UInt8, body: [UInt8])
    /// SKF (RFC 7383 §2.5): one fragment of an SK payload. `firstInnerPayload` is meaningful
    /// in fragment 1 only (zero in the others).
    case encryptedFragment(number: UInt16, total: UInt16, firstInnerPayload: UInt8, body: [UInt8])
    /// A payload type Tern does not know. With the critical bit set the engine must answer
    /// UNSUPPORTED_CRITICAL_PAYLOAD (§2.5); without it, skip it.
    case unknown(type: UInt8, critical: Bool, body: [UInt8])

    /// The payload type that goes in the preceding Next Payload field.
    public var payloadType: UInt8 {
        switch self {
        case .securityAssociation: IKEPayloadType.securityAssociation.rawValue
        case .keyExchange: IKEPayloadType.keyExchange.rawValue
        case .identificationInitiator: IKEPayloadType.identificationInitiator.rawValue
        case .identificationResponder: IKEPayloadType.identificationResponder.rawValue
        case .certificate: IKEPayloadType.certificate.rawValue
        case .certificateRequest: IKEPayloadType.certificateRequest.rawValue
        case .authentication: IKEPayloadType.authentication.rawValue
        case .nonce: IKEPayloadType.nonce.rawValue
        case .notify: IKEPayloadType.notify.rawValue
        case .delete: IKEPayloadType.delete.rawValue
        case .vendorID: IKEPayloadType.vendorID.rawValue
        case .trafficSelectorInitiator: IKEPayloadType.trafficSelectorInitiator.rawValue
        case .trafficSelectorResponder: IKEPayloadType.trafficSelectorResponder.rawValue
        case .configuration: IKEPayloadType.configuration.rawValue
        case .eap: IKEPayloadType.eap.rawValue
        case .encrypted: IKEPayloadType.encrypted.rawValue
        case .encryptedFragment: IKEPayloadType.encryptedFragment.rawValue
        case .unknown(let type, _, _): type
        }
    }
}
