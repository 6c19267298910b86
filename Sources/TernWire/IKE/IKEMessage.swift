/// A whole IKEv2 message: the header and its payload chain (RFC 7296 §3). With an SK/SKF
/// payload the chain holds only the payloads before it plus the opaque SK body; the engine
/// decrypts that body and decodes the inner chain with `IKEPayloadCodec.decode`.
public struct IKEMessage: Sendable, Hashable {
    public var header: IKEHeader
    public var payloads: [IKEPayload]
    /// Byte offset, in the decoded datagram, of the SK/SKF payload's generic header (nil if none). The engine takes
    /// bytes[0..<offset+4] (SK) or bytes[0..<offset+8] (SKF) as the AEAD AAD / integrity-covered prefix.
    public var encryptedPayloadOffset: Int?

    /// Prefix of IKE datagrams on UDP port 4500, telling them apart from ESP-in-UDP (RFC 3948 §2.2).
    public static let nonESPMarker: [UInt8] = [0, 0, 0, 0]

    public init(header: IKEHeader, payloads: [IKEPayload]) {
        self.header = header
        self.payloads = payloads
        self.encryptedPayloadOffset = nil
    }

    /// Decodes a whole datagram (without the 4-byte non-ESP marker): header length field must equal bytes.count; majorVersion must be 2 (else IKEDecodeError with reason mentioning major version); payloads decoded as above.
    public init(decoding bytes: [UInt8]) throws(IKEDecodeError) {
        let header = try IKEHeader(decoding: bytes[...])
        // §3.1: a major version above ours is answered with INVALID_MAJOR_VERSION, which the
        // engine does from the header alone.
        guard header.majorVersion == 2 else {
            throw IKEDecodeError("unsupported major version \(header.majorVersion)", offset: 17)
        }
        guard header.length == UInt32(bytes.count) else {
            throw IKEDecodeError("header length \(header.length) differs from the \(bytes.count)-byte datagram",
                                 offset: 24)
        }
        let chain = try IKEPayloadCodec.decodeChain(first: header.nextPayload, bytes[IKEHeader.size...])
        self.header = header
        self.payloads = chain.payloads
        self.encryptedPayloadOffset = chain.encryptedOffset
    }

    /// Encodes with header.nextPayload and header.length filled in.
    public func encode() -> [UInt8] {
        encodeLocatingEncryptedPayload().bytes
    }

    /// `encode()`, also returning where the SK/SKF payload's generic header starts (nil if
    /// there is none), as `encryptedPayloadOffset` would report after decoding these bytes.
    public func encodeLocatingEncryptedPayload() -> (bytes: [UInt8], encryptedPayloadOffset: Int?) {
        var header = self.header
        header.nextPayload = payloads.first?.payloadType ?? IKEPayloadType.none.rawValue
        var out: [UInt8] = []
        header.encode(into: &out)
        let encryptedOffset = IKEPayloadCodec.encodeChain(payloads, into: &out)
        precondition(out.count <= Int(UInt32.max), "IKE message over 2^32 bytes")
        let length = UInt32(out.count)
        patchUInt16(UInt16(truncatingIfNeeded: length >> 16), in: &out, at: 24)
        patchUInt16(UInt16(truncatingIfNeeded: length), in: &out, at: 26)
        return (out, encryptedOffset)
    }
}
