/// Encoding and decoding of IKEv2 payload chains (RFC 7296 §3.2–§3.16, RFC 7383 §2.5).
///
/// Every payload starts with the generic payload header (§3.2):
///
///                          1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     | Next Payload  |C|  RESERVED   |         Payload Length        |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Payload Length includes these 4 bytes. The C(ritical) bit matters only for payload types
/// the receiver does not know, so it is kept only on `.unknown`. Reserved bits and bytes are
/// ignored on input and sent as zero. The SA, TS and CP sub-structures are in
/// IKESubstructureCodec.swift.
///
/// Decoding never traps on peer input: every length is checked against the bytes left and a
/// malformed chain throws an `IKEDecodeError` whose offset is an index into the input slice.
/// Encoding trusts its caller: values that cannot be encoded (a body over 65535 bytes, an SK
/// payload that is not last) are programmer errors and trap.
public enum IKEPayloadCodec {
    /// Decodes a payload chain that starts with a payload of type `first`. An SK or SKF payload ends the chain:
    /// its body runs to the end of `bytes` (its generic header's next-payload is the first inner payload).
    /// Malformed lengths, truncated payloads, trailing bytes, SK not last, bad TS/proposal/transform structure -> IKEDecodeError with the offset.
    public static func decode(first: UInt8, _ bytes: ArraySlice<UInt8>) throws(IKEDecodeError) -> [IKEPayload] {
        try decodeChain(first: first, bytes).payloads
    }

    /// Encodes a chain; returns the type of its first payload (0 when empty). Critical bit set only for .unknown(critical: true).
    public static func encode(_ payloads: [IKEPayload]) -> (first: UInt8, bytes: [UInt8]) {
        var out: [UInt8] = []
        encodeChain(payloads, into: &out)
        return (payloads.first?.payloadType ?? 0, out)
    }

    /// `decode`, also returning the index in `bytes` where the SK/SKF payload's generic
    /// header starts (nil when the chain has none).
    static func decodeChain(first: UInt8, _ bytes: ArraySlice<UInt8>)
        throws(IKEDecodeError) -> (payloads: [IKEPayload], encryptedOffset: Int?) {
        var payloads: [IKEPayload] = []
        var type = first
        var position = bytes.startIndex
        let end = bytes.endIndex
        while type != IKEPayloadType.none.rawValue {
            guard end - position >= 4 else {
                throw IKEDecodeError("payload \(type) truncated: generic header needs 4 bytes, \(end - position) left",
                                     offset: position)
            }
            let next = bytes[position]
            let critical = bytes[position + 1] & 0x80 != 0
            let length = Int(readUInt16(bytes, position + 2))
            guard length >= 4 else {
                throw IKEDecodeError("payload \(type) length \(length) is below the 4-byte header", offset: position + 2)
            }
            guard length <= end - position else {
                throw IKEDecodeError("payload \(type) length \(length) exceeds the \(end - position) bytes left",
                                     offset: position + 2)
            }
            let body = bytes[(position + 4)..<(position + length)]
            if type == IKEPayloadType.encrypted.rawValue || type == IKEPayloadType.encryptedFragment.rawValue {
                // §3.14: SK is the last payload; its Next Payload names the first inner payload.
                guard position + length == end else {
                    throw IKEDecodeError("encrypted payload \(type) is not the last payload: \(end - position - length) bytes follow it",
                                         offset: position + length)
                }
                payloads.append(try decodeEncrypted(type: type, firstInner: next, body))
                return (payloads, position)
            }
            payloads.append(try decodeBody(type: type, critical: critical, body))
            position += length
            type = next
        }
        guard position == end else {
            throw IKEDecodeError("\(end - position) bytes follow the last payload", offset: position)
        }
        return (payloads, nil)
    }

    /// Appends the chain, each payload's Next Payload pointing at its successor. Returns the
    /// index in `out` of the SK/SKF payload's generic header, if the chain has one.
    @discardableResult
    static func encodeChain(_ payloads: [IKEPayload], into out: inout [UInt8]) -> Int? {
        var encryptedOffset: Int?
        for (index, payload) in payloads.enumerated() {
            let next: UInt8
            switch payload {
            case .encrypted(let firstInner, _), .encryptedFragment(_, _, let firstInner, _):
                precondition(index == payloads.count - 1, "an SK/SKF payload must be the last payload of a chain")
                next = firstInner
                encryptedOffset = out.count
            default:
                next = index + 1 < payloads.count ? payloads[index + 1].payloadType : IKEPayloadType.none.rawValue
            }
            encode(payload, next: next, into: &out)
        }
        return encryptedOffset
    }

    /// Appends one payload with its generic header.
    static func encode(_ payload: IKEPayload, next: UInt8, into out: inout [UInt8]) {
        if case .unknown(let type, _, _) = payload {
            precondition(type != IKEPayloadType.none.rawValue, "payload type 0 would end the chain")
        }
        let start = out.count
        out.append(next)
        if case .unknown(_, true, _) = payload { out.append(0x80) } else { out.append(0) }
        out.append(0); out.append(0)   // length, patched below
        encodeBody(payload, into: &out)
        let length = out.count - start
        precondition(length <= Int(UInt16.max), "payload \(payload.payloadType) is \(length) bytes, over 65535")
        patchUInt16(UInt16(length), in: &out, at: start + 2)
    }

    // MARK: - Bodies

    private static func decodeBody(type: UInt8, critical: Bool, _ body: ArraySlice<UInt8>)
        throws(IKEDecodeError) -> IKEPayload {
        guard let known = IKEPayloadType(rawValue: type) else {
            return .unknown(type: type, critical: critical, body: Array(body))
        }
        let start = body.startIndex
        switch known {
        case .securityAssociation:
            return .securityAssociation(try IKESubstructureCodec.decodeProposals(body))
        case .keyExchange:
            //  | Key Exchange Method Num (16) |      RESERVED (16)     |  Key Exchange Data ...
            try requireBody(body, atLeast: 4, "key exchange")
            return .keyExchange(group: readUInt16(body, start), data: Array(body[(start + 4)...]))
        case .identificationInitiator, .identificationResponder:
            //  |   ID Type     |                 RESERVED (24)                 |  Identification Data ...
            try requireBody(body, atLeast: 4, "identification")
            let id = IKEIdentification(type: body[start], data: Array(body[(start + 4)...]))
            return known == .identificationInitiator ? .identificationInitiator(id) : .identificationResponder(id)
        case .certificate, .certificateRequest:
            //  | Cert Encoding |  Certificate Data / Certification Authority ...
            try requireBody(body, atLeast: 1, "certificate")
            let encoding = body[start], data = Array(body[(start + 1)...])
            return known == .certificate ? .certificate(encoding: encoding, data: data)
                : .certificateRequest(encoding: encoding, data: data)
        case .authentication:
            //  | Auth Method   |                 RESERVED (24)                 |  Authentication Data ...
            try requireBody(body, atLeast: 4, "authentication")
            return .authentication(method: body[start], data: Array(body[(start + 4)...]))
        case .nonce:
            // §3.9: "The size of the Nonce Data MUST be between 16 and 256 octets, inclusive."
            guard (16...256).contains(body.count) else {
                throw IKEDecodeError("nonce of \(body.count) bytes, must be 16 to 256", offset: start)
            }
            return .nonce(Array(body))
        case .notify:
            return .notify(try decodeNotify(body))
        case .delete:
            return .delete(try decodeDelete(body))
        case .vendorID:
            return .vendorID(Array(body))
        case .trafficSelectorInitiator:
            return .trafficSelectorInitiator(try IKESubstructureCodec.decodeTrafficSelectors(body))
        case .trafficSelectorResponder:
            return .trafficSelectorResponder(try IKESubstructureCodec.decodeTrafficSelectors(body))
        case .configuration:
            let (cfgType, attributes) = try IKESubstructureCodec.decodeConfiguration(body)
            return .configuration(type: cfgType, attributes: attributes)
        case .eap:
            return .eap(Array(body))
        case .encrypted, .encryptedFragment, .none:
            // Handled by decodeChain before it gets here.
            throw IKEDecodeError("payload type \(type) out of place", offset: start)
        }
    }

    private static func encodeBody(_ payload: IKEPayload, into out: inout [UInt8]) {
        switch payload {
        case .securityAssociation(let proposals):
            IKESubstructureCodec.encodeProposals(proposals, into: &out)
        case .keyExchange(let group, let data):
            appendUInt16(group, to: &out); appendUInt16(0, to: &out); out += data
        case .identificationInitiator(let id), .identificationResponder(let id):
            out += id.restOfPayload
        case .certificate(let encoding, let data), .certificateRequest(let encoding, let data):
            out.append(encoding); out += data
        case .authentication(let method, let data):
            out += [method, 0, 0, 0]; out += data
        case .nonce(let data), .vendorID(let data), .eap(let data):
            out += data
        case .notify(let notify):
            encodeNotify(notify, into: &out)
        case .delete(let delete):
            encodeDelete(delete, into: &out)
        case .trafficSelectorInitiator(let selectors), .trafficSelectorResponder(let selectors):
            IKESubstructureCodec.encodeTrafficSelectors(selectors, into: &out)
        case .configuration(let type, let attributes):
            IKESubstructureCodec.encodeConfiguration(type: type, attributes, into: &out)
        case .encrypted(_, let body):
            out += body
        case .encryptedFragment(let number, let total, _, let body):
            appendUInt16(number, to: &out); appendUInt16(total, to: &out); out += body
        case .unknown(_, _, let body):
            out += body
        }
    }

    // MARK: - Notify (§3.10)
    //
    //                          1                   2                   3
    //      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     | Next Payload  |C|  RESERVED   |         Payload Length        |
    //     +---------------+---------------+-------------------------------+
    //     |  Protocol ID  |   SPI Size    |      Notify Message Type      |
    //     +---------------+---------------+-------------------------------+
    //     ~                Security Parameter Index (SPI)                 ~
    //     +---------------------------------------------------------------+
    //     ~                       Notification Data                       ~
    //     +---------------------------------------------------------------+

    private static func decodeNotify(_ body: ArraySlice<UInt8>) throws(IKEDecodeError) -> IKENotify {
        try requireBody(body, atLeast: 4, "notify")
        let start = body.startIndex
        let spiSize = Int(body[start + 1])
        guard body.count >= 4 + spiSize else {
            throw IKEDecodeError("notify SPI size \(spiSize) exceeds the \(body.count - 4) bytes left", offset: start + 1)
        }
        return IKENotify(type: IKENotifyType(rawValue: readUInt16(body, start + 2)), protocolID: body[start],
                         spi: Array(body[(start + 4)..<(start + 4 + spiSize)]),
                         data: Array(body[(start + 4 + spiSize)...]))
    }

    private static func encodeNotify(_ notify: IKENotify, into out: inout [UInt8]) {
        precondition(notify.spi.count <= 255, "notify SPI longer than 255 bytes")
        out.append(notify.protocolID); out.append(UInt8(notify.spi.count))
        appendUInt16(notify.type.rawValue, to: &out)
        out += notify.spi; out += notify.data
    }

    // MARK: - Delete (§3.11)
    //
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     | Next Payload  |C|  RESERVED   |         Payload Length        |
    //     +---------------+---------------+-------------------------------+
    //     | Protocol ID   |   SPI Size    |          Num of SPIs          |
    //     +---------------+---------------+-------------------------------+
    //     ~               Security Parameter Index(es) (SPI)              ~
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    private static func decodeDelete(_ body: ArraySlice<UInt8>) throws(IKEDecodeError) -> IKEDelete {
        try requireBody(body, atLeast: 4, "delete")
        let start = body.startIndex
        let spiSize = Int(body[start + 1]), count = Int(readUInt16(body, start + 2))
        // An IKE SA delete has SPI size 0; the SPIs are the header's, whatever the count says.
        guard spiSize > 0 else {
            guard body.count == 4 else {
                throw IKEDecodeError("delete with SPI size 0 carries \(body.count - 4) extra bytes", offset: start + 4)
            }
            return IKEDelete(protocolID: body[start], spis: [])
        }
        guard body.count == 4 + spiSize * count else {
            throw IKEDecodeError("delete of \(count) SPIs of \(spiSize) bytes needs \(spiSize * count) bytes, has \(body.count - 4)",
                                 offset: start + 2)
        }
        var spis: [[UInt8]] = []
        spis.reserveCapacity(count)
        for index in 0..<count {
            let spiStart = start + 4 + index * spiSize
            spis.append(Array(body[spiStart..<(spiStart + spiSize)]))
        }
        return IKEDelete(protocolID: body[start], spis: spis)
    }

    private static func encodeDelete(_ delete: IKEDelete, into out: inout [UInt8]) {
        let spiSize = delete.spis.first?.count ?? 0
        precondition(delete.spis.allSatisfy { $0.count == spiSize }, "delete SPIs must all have the same size")
        precondition(spiSize <= 255 && delete.spis.count <= Int(UInt16.max), "delete SPI size or count out of range")
        out.append(delete.protocolID); out.append(UInt8(spiSize))
        appendUInt16(UInt16(spiSize == 0 ? 0 : delete.spis.count), to: &out)
        for spi in delete.spis { out += spi }
    }

    // MARK: - Encrypted (§3.14) and Encrypted Fragment (RFC 7383 §2.5)
    //
    // SK:                                       SKF:
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     | Next Payload  |C|  RESERVED   |         Payload Length        |
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     |  (SKF only)  Fragment Number  |  (SKF only)  Total Fragments  |
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     |                     Initialization Vector                     |
    //     ~                    Encrypted content + padding                ~
    //     ~                    Integrity Checksum Data                    ~
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    private static func decodeEncrypted(type: UInt8, firstInner: UInt8, _ body: ArraySlice<UInt8>)
        throws(IKEDecodeError) -> IKEPayload {
        guard type == IKEPayloadType.encryptedFragment.rawValue else {
            return .encrypted(firstInnerPayload: firstInner, body: Array(body))
        }
        try requireBody(body, atLeast: 4, "encrypted fragment")
        let start = body.startIndex
        let number = readUInt16(body, start), total = readUInt16(body, start + 2)
        // RFC 7383 §2.6.1: fragment numbers run from 1 to Total Fragments.
        guard number >= 1, number <= total else {
            throw IKEDecodeError("fragment number \(number) of \(total) out of range", offset: start)
        }
        return .encryptedFragment(number: number, total: total, firstInnerPayload: firstInner,
                                  body: Array(body[(start + 4)...]))
    }

    // MARK: - Helpers

    static func requireBody(_ body: ArraySlice<UInt8>, atLeast count: Int, _ what: String) throws(IKEDecodeError) {
        guard body.count >= count else {
            throw IKEDecodeError("\(what) payload body of \(body.count) bytes, needs at least \(count)",
                                 offset: body.startIndex)
        }
    }
}
