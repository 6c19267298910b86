/// Why an IKEv2 message or payload chain could not be decoded, and where. The engine answers
/// such a message with INVALID_SYNTAX (or drops it) and logs this; `offset` is an index into
/// the bytes handed to the decoder (for a slice of a datagram, a datagram offset).
public struct IKEDecodeError: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    public var offset: Int

    public init(_ reason: String, offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String { "\(reason) (at byte \(offset))" }
}
