/// Every way the VICI layer fails: hostile or broken bytes from a peer, and socket trouble.
///
/// Errors compare by `code` only, so tests and callers can match on the reason while the
/// description still carries the byte offset or errno that helps a human.
public struct VICIError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: UInt8, Sendable, Hashable, CaseIterable {
        // Codec: the bytes are not a VICI message or packet.
        case truncated              // an element, name or value runs past the end
        case badElementType         // element type byte outside 1...6
        case badPacketType          // packet type byte outside 0...7
        case unbalancedSectionEnd   // SECTION_END at the root
        case unterminatedSection    // message ends inside a section
        case listItemOutsideList    // LIST_ITEM or LIST_END outside a list
        case elementInList          // anything but LIST_ITEM/LIST_END inside a list
        case unterminatedList       // message ends inside a list
        case nestingTooDeep         // more than `VICIMessage.maxDepth` nested sections
        case oversized              // longer than the message size limit
        case invalidName            // a name with bytes that are not printable ASCII
        case duplicateKey           // a name repeated within one section
        case trailingBytes          // bytes after a packet that carries no message
        case notEncodable           // a name over 255 bytes or a value over 65535 bytes
        // Transport and protocol.
        case socketMissing          // no socket file at the path
        case connectionRefused      // a socket file, but nobody listening
        case permissionDenied       // the socket's mode or group keeps us out
        case addressInUse           // another server is live on the path
        case pathTooLong            // longer than sockaddr_un allows
        case io                     // any other system call failure
        case closed                 // the peer closed the connection
        case unexpectedPacket       // a packet type that is wrong at this point of the exchange
        case unknownCommand         // the server answered CMD_UNKNOWN
        case unknownEvent           // the server answered EVENT_UNKNOWN
        case alreadyStarted         // start() called twice
    }

    public let code: Code
    /// Byte offset into the decoded input, for codec errors.
    public let offset: Int?
    /// For system call failures, the errno.
    public let errno: Int32?
    private let detail: String

    @inline(never)
    init(_ code: Code, at offset: Int? = nil, errno: Int32? = nil, _ detail: String = "") {
        self.code = code
        self.offset = offset
        self.errno = errno
        self.detail = detail
    }

    public static func == (a: VICIError, b: VICIError) -> Bool { a.code == b.code }

    public var description: String {
        var s = Self.summary(code)
        if let offset { s += " at byte \(offset)" }
        if !detail.isEmpty { s += ": \(detail)" }
        return s
    }

    static func summary(_ code: Code) -> String {
        switch code {
        case .truncated: "truncated VICI data"
        case .badElementType: "bad VICI element type"
        case .badPacketType: "bad VICI packet type"
        case .unbalancedSectionEnd: "VICI section end outside a section"
        case .unterminatedSection: "VICI section not closed"
        case .listItemOutsideList: "VICI list item or list end outside a list"
        case .elementInList: "VICI element inside a list"
        case .unterminatedList: "VICI list not closed"
        case .nestingTooDeep: "VICI sections nested too deep"
        case .oversized: "VICI message too large"
        case .invalidName: "VICI name is not printable ASCII"
        case .duplicateKey: "VICI key repeated in one section"
        case .trailingBytes: "trailing bytes after VICI packet"
        case .notEncodable: "VICI message cannot be encoded"
        case .socketMissing: "no VICI socket"
        case .connectionRefused: "VICI connection refused"
        case .permissionDenied: "permission denied on VICI socket"
        case .addressInUse: "VICI socket already in use"
        case .pathTooLong: "VICI socket path too long"
        case .io: "VICI I/O error"
        case .closed: "VICI connection closed"
        case .unexpectedPacket: "unexpected VICI packet"
        case .unknownCommand: "unknown VICI command"
        case .unknownEvent: "unknown VICI event"
        case .alreadyStarted: "VICI server already started"
        }
    }
}
