/// The IKE header (RFC 7296 §3.1):
///
///                          1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                       IKE SA Initiator's SPI                  |
///     |                                                               |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                       IKE SA Responder's SPI                  |
///     |                                                               |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                          Message ID                           |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                            Length                             |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Flags: `X X R V I X X X` — R(esponse) 0x20, V(ersion) 0x10, I(nitiator) 0x08. Unknown
/// flag bits are kept as received (the RFC says ignore them, not clear them).
public struct IKEHeaderFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let initiator = IKEHeaderFlags(rawValue: 0x08)
    public static let version = IKEHeaderFlags(rawValue: 0x10)
    public static let response = IKEHeaderFlags(rawValue: 0x20)
}

public struct IKEHeader: Sendable, Hashable {
    public var initiatorSPI: UInt64
    public var responderSPI: UInt64
    public var nextPayload: UInt8
    public var majorVersion: UInt8
    public var minorVersion: UInt8
    /// Raw, so that a request with an unknown exchange type can still be answered.
    public var exchangeType: UInt8
    public var flags: IKEHeaderFlags
    public var messageID: UInt32
    public var length: UInt32

    public static let size = 28

    public init(initiatorSPI: UInt64, responderSPI: UInt64, nextPayload: UInt8 = 0, majorVersion: UInt8 = 2,
                minorVersion: UInt8 = 0, exchangeType: UInt8, flags: IKEHeaderFlags, messageID: UInt32,
                length: UInt32 = 0) {
        self.initiatorSPI = initiatorSPI; self.responderSPI = responderSPI
        self.nextPayload = nextPayload; self.majorVersion = majorVersion; self.minorVersion = minorVersion
        self.exchangeType = exchangeType; self.flags = flags; self.messageID = messageID; self.length = length
    }

    /// Decodes the first 28 bytes of `bytes` (anything after them is ignored). Accepts any
    /// version and length, so the caller can answer INVALID_MAJOR_VERSION or check the length.
    public init(decoding bytes: ArraySlice<UInt8>) throws(IKEDecodeError) {
        let start = bytes.startIndex
        guard bytes.count >= IKEHeader.size else {
            throw IKEDecodeError("IKE header needs \(IKEHeader.size) bytes, got \(bytes.count)", offset: start)
        }
        initiatorSPI = readUInt64(bytes, start)
        responderSPI = readUInt64(bytes, start + 8)
        nextPayload = bytes[start + 16]
        majorVersion = bytes[start + 17] >> 4
        minorVersion = bytes[start + 17] & 0x0f
        exchangeType = bytes[start + 18]
        flags = IKEHeaderFlags(rawValue: bytes[start + 19])
        messageID = readUInt32(bytes, start + 20)
        length = readUInt32(bytes, start + 24)
    }

    /// Appends the 28 header bytes as they are (callers fill in `nextPayload` and `length`).
    /// Versions above 15 do not fit their nibble: a programmer error.
    public func encode(into out: inout [UInt8]) {
        precondition(majorVersion < 16 && minorVersion < 16, "IKE version nibble out of range")
        appendUInt64(initiatorSPI, to: &out)
        appendUInt64(responderSPI, to: &out)
        out.append(nextPayload)
        out.append(majorVersion << 4 | minorVersion)
        out.append(exchangeType)
        out.append(flags.rawValue)
        appendUInt32(messageID, to: &out)
        appendUInt32(length, to: &out)
    }
}
