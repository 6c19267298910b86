/// IKEv2 code points (RFC 7296 and the IANA "Internet Key Exchange Version 2 (IKEv2)
/// Parameters" registry). The codec keeps raw integers in its values so that unknown code
/// points survive decoding and can be answered; these enums name the ones Tern knows.

/// Exchange Type, header octet 18 (RFC 7296 §3.1).
public enum IKEExchangeType: UInt8, Sendable {
    case ikeSAInit = 34, ikeAuth = 35, createChildSA = 36, informational = 37
}

/// Next Payload / payload type values (RFC 7296 §3.2, RFC 7383 §2.5 for SKF).
public enum IKEPayloadType: UInt8, Sendable {
    case none = 0
    case securityAssociation = 33, keyExchange = 34
    case identificationInitiator = 35, identificationResponder = 36
    case certificate = 37, certificateRequest = 38, authentication = 39, nonce = 40
    case notify = 41, delete = 42, vendorID = 43
    case trafficSelectorInitiator = 44, trafficSelectorResponder = 45
    case encrypted = 46, configuration = 47, eap = 48
    case encryptedFragment = 53
}

/// Protocol ID in proposals, notifications and deletes (RFC 7296 §3.3.1).
public enum IKEProtocolID: UInt8, Sendable {
    case ike = 1, ah = 2, esp = 3
}

/// Transform Type (RFC 7296 §3.3.2; type 4 was "Diffie-Hellman Group", renamed by RFC 9370).
public enum IKETransformType: UInt8, Sendable {
    case encryption = 1, prf = 2, integrity = 3, keyExchange = 4, extendedSequenceNumbers = 5
}

/// Transform attribute types (RFC 7296 §3.3.5). Key Length is the only one defined.
public enum IKETransformAttributeType: UInt16, Sendable {
    case keyLength = 14
}

/// ID Type of the IDi/IDr payloads (RFC 7296 §3.5).
public enum IKEIdentificationType: UInt8, Sendable {
    case ipv4Address = 1, fqdn = 2, rfc822Address = 3, ipv6Address = 5
    case derASN1DN = 9, derASN1GN = 10, keyID = 11
}

/// Auth Method of the AUTH payload (RFC 7296 §3.8, RFC 4754, RFC 6467, RFC 7619, RFC 7427).
public enum IKEAuthMethod: UInt8, Sendable {
    case rsaSignature = 1, sharedKeyMIC = 2, dssSignature = 3
    case ecdsaSHA256P256 = 9, ecdsaSHA384P384 = 10, ecdsaSHA512P521 = 11
    case genericSecurePassword = 12, nullAuthentication = 13, digitalSignature = 14
}

/// Cert Encoding of the CERT and CERTREQ payloads (RFC 7296 §3.6).
public enum IKECertificateEncoding: UInt8, Sendable {
    case pkcs7WrappedX509 = 1, pgp = 2, dnsSignedKey = 3, x509Signature = 4
    case kerberosToken = 6, certificateRevocationList = 7, authorityRevocationList = 8
    case spkiCertificate = 9, x509Attribute = 10, rawRSAKey = 11
    case hashAndURLX509 = 12, hashAndURLX509Bundle = 13
}

/// TS Type of a traffic selector (RFC 7296 §3.13.1).
public enum IKETrafficSelectorType: UInt8, Sendable {
    case ipv4AddressRange = 7, ipv6AddressRange = 8
}

/// CFG Type of the configuration payload (RFC 7296 §3.15).
public enum IKEConfigurationType: UInt8, Sendable {
    case request = 1, reply = 2, set = 3, acknowledge = 4
}

/// Configuration attribute types (RFC 7296 §3.15.1).
public enum IKEConfigurationAttributeType: UInt16, Sendable {
    case internalIP4Address = 1, internalIP4Netmask = 2, internalIP4DNS = 3, internalIP4NBNS = 4
    case internalIP4DHCP = 6, applicationVersion = 7, internalIP6Address = 8, internalIP6DNS = 10
    case internalIP6DHCP = 12, internalIP4Subnet = 13, supportedAttributes = 14, internalIP6Subnet = 15
}

/// Notify Message Type (RFC 7296 §3.10.1 and the IANA registry). A struct rather than an enum
/// because peers send types we do not know, and they must round-trip. Types below 16384 are
/// errors, the rest status notifications.
public struct IKENotifyType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public var isError: Bool { rawValue < 16384 }

    // Error types.
    public static let unsupportedCriticalPayload = IKENotifyType(rawValue: 1)
    public static let invalidIKESPI = IKENotifyType(rawValue: 4)
    public static let invalidMajorVersion = IKENotifyType(rawValue: 5)
    public static let invalidSyntax = IKENotifyType(rawValue: 7)
    public static let invalidMessageID = IKENotifyType(rawValue: 9)
    public static let invalidSPI = IKENotifyType(rawValue: 11)
    public static let noProposalChosen = IKENotifyType(rawValue: 14)
    public static let invalidKEPayload = IKENotifyType(rawValue: 17)
    public static let authenticationFailed = IKENotifyType(rawValue: 24)
    public static let singlePairRequired = IKENotifyType(rawValue: 34)
    public static let noAdditionalSAs = IKENotifyType(rawValue: 35)
    public static let internalAddressFailure = IKENotifyType(rawValue: 36)
    public static let failedCPRequired = IKENotifyType(rawValue: 37)
    public static let tsUnacceptable = IKENotifyType(rawValue: 38)
    public static let invalidSelectors = IKENotifyType(rawValue: 39)
    public static let temporaryFailure = IKENotifyType(rawValue: 43)
    public static let childSANotFound = IKENotifyType(rawValue: 44)

    // Status types.
    public static let initialContact = IKENotifyType(rawValue: 16384)
    public static let setWindowSize = IKENotifyType(rawValue: 16385)
    public static let additionalTSPossible = IKENotifyType(rawValue: 16386)
    public static let ipcompSupported = IKENotifyType(rawValue: 16387)
    public static let natDetectionSourceIP = IKENotifyType(rawValue: 16388)
    public static let natDetectionDestinationIP = IKENotifyType(rawValue: 16389)
    public static let cookie = IKENotifyType(rawValue: 16390)
    public static let useTransportMode = IKENotifyType(rawValue: 16391)
    public static let httpCertLookupSupported = IKENotifyType(rawValue: 16392)
    public static let rekeySA = IKENotifyType(rawValue: 16393)
    public static let espTFCPaddingNotSupported = IKENotifyType(rawValue: 16394)
    public static let nonFirstFragmentsAlso = IKENotifyType(rawValue: 16395)
    public static let mobikeSupported = IKENotifyType(rawValue: 16396)
    public static let redirectSupported = IKENotifyType(rawValue: 16406)
    public static let childlessIKEv2Supported = IKENotifyType(rawValue: 16418)
    public static let ikev2FragmentationSupported = IKENotifyType(rawValue: 16430)
    public static let signatureHashAlgorithms = IKENotifyType(rawValue: 16431)

    /// The IANA name, as RFCs and strongSwan logs spell it.
    public var description: String {
        if let name = Self.names[rawValue] { return name }
        return "NOTIFY(\(rawValue))"
    }

    private static let names: [UInt16: String] = [
        1: "UNSUPPORTED_CRITICAL_PAYLOAD", 4: "INVALID_IKE_SPI", 5: "INVALID_MAJOR_VERSION",
        7: "INVALID_SYNTAX", 9: "INVALID_MESSAGE_ID", 11: "INVALID_SPI", 14: "NO_PROPOSAL_CHOSEN",
        17: "INVALID_KE_PAYLOAD", 24: "AUTHENTICATION_FAILED", 34: "SINGLE_PAIR_REQUIRED",
        35: "NO_ADDITIONAL_SAS", 36: "INTERNAL_ADDRESS_FAILURE", 37: "FAILED_CP_REQUIRED",
        38: "TS_UNACCEPTABLE", 39: "INVALID_SELECTORS", 40: "UNACCEPTABLE_ADDRESSES",
        41: "UNEXPECTED_NAT_DETECTED", 42: "USE_ASSIGNED_HoA", 43: "TEMPORARY_FAILURE",
        44: "CHILD_SA_NOT_FOUND", 45: "INVALID_GROUP_ID", 46: "AUTHORIZATION_FAILED",
        47: "STATE_NOT_FOUND",
        16384: "INITIAL_CONTACT", 16385: "SET_WINDOW_SIZE", 16386: "ADDITIONAL_TS_POSSIBLE",
        16387: "IPCOMP_SUPPORTED", 16388: "NAT_DETECTION_SOURCE_IP",
        16389: "NAT_DETECTION_DESTINATION_IP", 16390: "COOKIE", 16391: "USE_TRANSPORT_MODE",
        16392: "HTTP_CERT_LOOKUP_SUPPORTED", 16393: "REKEY_SA", 16394: "ESP_TFC_PADDING_NOT_SUPPORTED",
        16395: "NON_FIRST_FRAGMENTS_ALSO", 16396: "MOBIKE_SUPPORTED", 16397: "ADDITIONAL_IP4_ADDRESS",
        16398: "ADDITIONAL_IP6_ADDRESS", 16399: "NO_ADDITIONAL_ADDRESSES", 16400: "UPDATE_SA_ADDRESSES",
        16401: "COOKIE2", 16402: "NO_NATS_ALLOWED", 16403: "AUTH_LIFETIME",
        16404: "MULTIPLE_AUTH_SUPPORTED", 16405: "ANOTHER_AUTH_FOLLOWS", 16406: "REDIRECT_SUPPORTED",
        16407: "REDIRECT", 16408: "REDIRECTED_FROM", 16417: "EAP_ONLY_AUTHENTICATION",
        16418: "CHILDLESS_IKEV2_SUPPORTED", 16419: "QUICK_CRASH_DETECTION",
        16420: "IKEV2_MESSAGE_ID_SYNC_SUPPORTED", 16421: "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED",
        16422: "IKEV2_MESSAGE_ID_SYNC", 16423: "IPSEC_REPLAY_COUNTER_SYNC",
        16424: "SECURE_PASSWORD_METHODS", 16430: "IKEV2_FRAGMENTATION_SUPPORTED",
        16431: "SIGNATURE_HASH_ALGORITHMS", 16435: "USE_PPK", 16436: "PPK_IDENTITY",
        16437: "NO_PPK_AUTH", 16438: "INTERMEDIATE_EXCHANGE_SUPPORTED",
        16441: "ADDITIONAL_KEY_EXCHANGE", 16442: "USE_AGGFRAG",
    ]
}
