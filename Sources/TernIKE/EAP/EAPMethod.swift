// EAP (RFC 3748) as IKEv2 carries it (RFC 7296 §2.16): the packet, and the two roles a method
// plays. Sans-I/O: a method takes EAP packets in and gives EAP packets (or an outcome) out; the
// IKE_AUTH task moves them in EAP payloads, and EAP-RADIUS moves them to a RADIUS server.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Code      |  Identifier   |            Length             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |     Type      |  Type-Data ... (Request and Response only)
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

public enum EAPCode: UInt8, Sendable, Hashable {
    case request = 1, response = 2, success = 3, failure = 4
}

/// Method types (IANA "EAP Method Types").
public enum EAPType: UInt8, Sendable, Hashable, CustomStringConvertible {
    case identity = 1, notification = 2, nak = 3, md5 = 4, gtc = 6, tls = 13, ttls = 21, peap = 25, mschapv2 = 26
    public var description: String {
        switch self {
        case .identity: "EAP_IDENTITY"
        case .notification: "EAP_NOTIFICATION"
        case .nak: "EAP_NAK"
        case .md5: "EAP_MD5"
        case .gtc: "EAP_GTC"
        case .tls: "EAP_TLS"
        case .ttls: "EAP_TTLS"
        case .peap: "EAP_PEAP"
        case .mschapv2: "EAP_MSCHAPV2"
        }
    }
}

public struct EAPDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public struct EAPPacket: Sendable, Hashable {
    public var code: EAPCode
    public var identifier: UInt8
    /// The method type byte (Request/Response only; nil for Success/Failure). Kept raw so an
    /// unknown type can be NAKed.
    public var type: UInt8?
    /// Type-Data (empty for Success/Failure).
    public var data: [UInt8]

    public init(code: EAPCode, identifier: UInt8, type: UInt8? = nil, data: [UInt8] = []) {
        self.code = code; self.identifier = identifier; self.type = type; self.data = data
    }
    public init(code: EAPCode, identifier: UInt8, type: EAPType, data: [UInt8] = []) {
        self.init(code: code, identifier: identifier, type: type.rawValue, data: data)
    }

    /// Parses one EAP packet; bytes beyond Length are ignored (RFC 3748 §4.1), fewer are an error.
    public init(bytes: [UInt8]) throws(EAPDecodeError) {
        guard bytes.count >= 4 else { throw EAPDecodeError("EAP packet of \(bytes.count) bytes is shorter than its header") }
        guard let code = EAPCode(rawValue: bytes[0]) else { throw EAPDecodeError("unknown EAP code \(bytes[0])") }
        let length = Int(bytes[2]) << 8 | Int(bytes[3])
        guard length >= 4, length <= bytes.count else {
            throw EAPDecodeError("EAP length \(length) does not fit the \(bytes.count) bytes received")
        }
        self.code = code
        identifier = bytes[1]
        switch code {
        case .request, .response:
            guard length >= 5 else { throw EAPDecodeError("EAP \(code) without a type") }
            type = bytes[4]
            data = Array(bytes[5..<length])
        case .success, .failure:
            guard length == 4 else { throw EAPDecodeError("EAP \(code) with \(length - 4) bytes of data") }
            type = nil
            data = []
        }
    }

    public var methodType: EAPType? { type.flatMap(EAPType.init(rawValue:)) }

    public var bytes: [UInt8] {
        let length = 4 + (type == nil ? 0 : 1 + data.count)
        var out: [UInt8] = [code.rawValue, identifier, UInt8(length >> 8), UInt8(length & 0xFF)]
        out.reserveCapacity(length)
        if let type { out.append(type); out += data }
        return out
    }
}

/// What a server (authenticator) method does with a response.
public enum EAPServerStep: Sendable, Hashable {
    /// Send this request to the peer and wait for its response.
    case request(EAPPacket)
    /// The peer proved itself. `msk`: the Master Session Key (64 bytes) when the method makes one
    /// (MSCHAPv2, TLS), nil when it does not (MD5): then IKE's AUTH uses SK_pi/SK_pr (§2.16).
    case success(msk: [UInt8]?)
    /// The peer failed: the reason is logged (never containing a password or a hash of one).
    case failure(reason: String)
}

/// The authenticator side of one method, run once the peer's identity is known (EAP-Identity
/// or the IKE identity). The IKE_AUTH task sends `start`'s request, feeds each response to
/// `process`, and sends EAP-Success/Failure itself on the outcome.
public protocol EAPServerMethod: Sendable {
    var type: EAPType { get }
    /// The first request (identifier: the one to use; later ones count up from it).
    mutating func start(identifier: UInt8) -> EAPServerStep
    /// A response to our last request (the caller checked its identifier).
    mutating func process(_ response: EAPPacket) -> EAPServerStep
}

/// What a peer (client) method does with a request.
public enum EAPPeerStep: Sendable, Hashable {
    /// Send this response.
    case response(EAPPacket)
    /// Give up: the reason is logged (e.g. the server's authenticator response did not verify).
    case failure(reason: String)
}

/// The client side of one method. The IKE_AUTH task answers EAP-Identity itself, feeds method
/// requests here, and reads `msk` once EAP-Success arrives (a method that has not reached its
/// own success state by then, e.g. MSCHAPv2 without a verified authenticator response, reports
/// `isComplete == false` and the client refuses the Success).
public protocol EAPPeerMethod: Sendable {
    var type: EAPType { get }
    mutating func process(_ request: EAPPacket) -> EAPPeerStep
    /// Whether the method reached its successful end (an EAP-Success before then is refused).
    var isComplete: Bool { get }
    /// The MSK once complete (nil for methods without one).
    var msk: [UInt8]? { get }
}
