/// The sub-structures inside SA, TS and CP payload bodies (RFC 7296 §3.3, §3.13, §3.15).
/// Same contract as IKEPayloadCodec: decoding throws with an offset into the input, encoding
/// traps on values that cannot be represented.
enum IKESubstructureCodec {
    // MARK: - Proposal (§3.3.1)
    //
    //                          1                   2                   3
    //      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     | Last Substruc |   RESERVED    |         Proposal Length       |
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     ~                        SPI (variable)                         ~
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     ~                        <Transforms>                           ~
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //
    // Last Substruc is 0 on the last proposal and 2 on the others. Proposal numbers start at
    // 1 and never decrease (a response carries the one accepted proposal with its number).

    static let moreProposals: UInt8 = 2
    static let moreTransforms: UInt8 = 3

    static func decodeProposals(_ body: ArraySlice<UInt8>) throws(IKEDecodeError) -> [IKEProposal] {
        guard !body.isEmpty else { throw IKEDecodeError("SA payload without proposals", offset: body.startIndex) }
        var proposals: [IKEProposal] = []
        var position = body.startIndex
        var previousNumber: UInt8 = 1
        while position < body.endIndex {
            let left = body.endIndex - position
            guard left >= 8 else {
                throw IKEDecodeError("proposal truncated: needs 8 bytes, \(left) left", offset: position)
            }
            let last = body[position]
            let length = Int(readUInt16(body, position + 2))
            guard length >= 8, length <= left else {
                throw IKEDecodeError("proposal length \(length) outside 8...\(left)", offset: position + 2)
            }
            let isFinal = position + length == body.endIndex
            guard last == (isFinal ? 0 : moreProposals) else {
                throw IKEDecodeError(isFinal ? "last proposal has Last Substruc \(last), must be 0"
                                             : "proposal with Last Substruc \(last) is followed by more bytes",
                                     offset: position)
            }
            let number = body[position + 4], protocolID = body[position + 5]
            let spiSize = Int(body[position + 6]), transformCount = Int(body[position + 7])
            guard number >= previousNumber else {
                throw IKEDecodeError("proposal number \(number) is below \(previousNumber)", offset: position + 4)
            }
            try checkSPISize(spiSize, protocolID: protocolID, offset: position + 6)
            guard 8 + spiSize <= length else {
                throw IKEDecodeError("proposal SPI size \(spiSize) exceeds proposal length \(length)", offset: position + 6)
            }
            let spi = Array(body[(position + 8)..<(position + 8 + spiSize)])
            let transforms = try decodeTransforms(body[(position + 8 + spiSize)..<(position + length)],
                                                  expected: transformCount, countOffset: position + 7)
            proposals.append(IKEProposal(number: number, protocolID: protocolID, spi: spi, transforms: transforms))
            previousNumber = number
            position += length
        }
        return proposals
    }

    /// SPI sizes RFC 7296 fixes: none or 8 (rekey) for IKE, 4 for AH and ESP (§3.3.1).
    private static func checkSPISize(_ size: Int, protocolID: UInt8, offset: Int) throws(IKEDecodeError) {
        let allowed: Bool
        switch IKEProtocolID(rawValue: protocolID) {
        case .ike: allowed = size == 0 || size == 8
        case .ah, .esp: allowed = size == 4
        case nil: allowed = true
        }
        guard allowed else {
            throw IKEDecodeError("SPI size \(size) is invalid for protocol \(protocolID)", offset: offset)
        }
    }

    static func encodeProposals(_ proposals: [IKEProposal], into out: inout [UInt8]) {
        for (index, proposal) in proposals.enumerated() {
            precondition(proposal.spi.count <= 255 && proposal.transforms.count <= 255,
                         "proposal SPI or transform count over 255")
            let start = out.count
            out += [index + 1 < proposals.count ? moreProposals : 0, 0, 0, 0]
            out += [proposal.number, proposal.protocolID, UInt8(proposal.spi.count), UInt8(proposal.transforms.count)]
            out += proposal.spi
            for (transformIndex, transform) in proposal.transforms.enumerated() {
                encodeTransform(transform, last: transformIndex + 1 == proposal.transforms.count, into: &out)
            }
            let length = out.count - start
            precondition(length <= Int(UInt16.max), "proposal over 65535 bytes")
            patchUInt16(UInt16(length), in: &out, at: start + 2)
        }
    }

    // MARK: - Transform (§3.3.2) and its attributes (§3.3.5)
    //
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     | Last Substruc |   RESERVED    |        Transform Length       |
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     |Transform Type |   RESERVED    |          Transform ID         |
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     ~                      Transform Attributes                     ~
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //
    // Attribute:
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     |A|       Attribute Type        |    AF=0  Attribute Length     |
    //     |F|                             |    AF=1  Attribute Value      |
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     |                   AF=0  Attribute Value                       |
    //     |                   AF=1  Not Transmitted                       |
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //
    // Last Substruc is 0 on the last transform of a proposal and 3 on the others. Key Length
    // (type 14) is TV (AF=1), so it is sent as 0x800E followed by the length in bits.

    private static func decodeTransforms(_ bytes: ArraySlice<UInt8>, expected: Int, countOffset: Int)
        throws(IKEDecodeError) -> [IKETransform] {
        var transforms: [IKETransform] = []
        var position = bytes.startIndex
        while position < bytes.endIndex {
            let left = bytes.endIndex - position
            guard left >= 8 else {
                throw IKEDecodeError("transform truncated: needs 8 bytes, \(left) left", offset: position)
            }
            let last = bytes[position]
            let length = Int(readUInt16(bytes, position + 2))
            guard length >= 8, length <= left else {
                throw IKEDecodeError("transform length \(length) outside 8...\(left)", offset: position + 2)
            }
            let isFinal = position + length == bytes.endIndex
            guard last == (isFinal ? 0 : moreTransforms) else {
                throw IKEDecodeError(isFinal ? "last transform has Last Substruc \(last), must be 0"
                                             : "transform with Last Substruc \(last) is followed by more bytes",
                                     offset: position)
            }
            var transform = IKETransform(type: bytes[position + 4], id: readUInt16(bytes, position + 6))
            try decodeAttributes(bytes[(position + 8)..<(position + length)], into: &transform)
            transforms.append(transform)
            position += length
        }
        guard transforms.count == expected else {
            throw IKEDecodeError("proposal announces \(expected) transforms, carries \(transforms.count)",
                                 offset: countOffset)
        }
        return transforms
    }

    private static func decodeAttributes(_ bytes: ArraySlice<UInt8>, into transform: inout IKETransform)
        throws(IKEDecodeError) {
        var position = bytes.startIndex
        while position < bytes.endIndex {
            guard bytes.endIndex - position >= 4 else {
                throw IKEDecodeError("transform attribute truncated: needs 4 bytes, \(bytes.endIndex - position) left",
                                     offset: position)
            }
            let format = readUInt16(bytes, position)
            let isTV = format & 0x8000 != 0
            let type = format & 0x7fff
            var size = 4
            if !isTV {
                size += Int(readUInt16(bytes, position + 2))
                guard size <= bytes.endIndex - position else {
                    throw IKEDecodeError("transform attribute length \(size - 4) exceeds the transform", offset: position + 2)
                }
            }
            if type == IKETransformAttributeType.keyLength.rawValue {
                guard isTV else {
                    throw IKEDecodeError("key length attribute must use the TV format", offset: position)
                }
                guard transform.keyLength == nil else {
                    throw IKEDecodeError("duplicate key length attribute", offset: position)
                }
                transform.keyLength = readUInt16(bytes, position + 2)
            } else {
                transform.unknownAttributes += bytes[position..<(position + size)]
            }
            position += size
        }
    }

    private static func encodeTransform(_ transform: IKETransform, last: Bool, into out: inout [UInt8]) {
        let start = out.count
        out += [last ? 0 : moreTransforms, 0, 0, 0, transform.type, 0]
        appendUInt16(transform.id, to: &out)
        if let keyLength = transform.keyLength {
            appendUInt16(0x8000 | IKETransformAttributeType.keyLength.rawValue, to: &out)
            appendUInt16(keyLength, to: &out)
        }
        out += transform.unknownAttributes
        let length = out.count - start
        precondition(length <= Int(UInt16.max), "transform over 65535 bytes")
        patchUInt16(UInt16(length), in: &out, at: start + 2)
    }

    // MARK: - Traffic selectors (§3.13, §3.13.1)
    //
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     | Number of TSs |                 RESERVED                      |
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     ~                       <Traffic Selectors>                     ~
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //
    // Each selector:
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     |   TS Type     |IP Protocol ID*|       Selector Length         |
    //     +---------------+---------------+-------------------------------+
    //     |           Start Port*         |           End Port*           |
    //     +-------------------------------+-------------------------------+
    //     ~                         Starting Address*                     ~
    //     +---------------------------------------------------------------+
    //     ~                         Ending Address*                       ~
    //     +---------------------------------------------------------------+
    //
    // TS type 7 (IPv4) has length 16, type 8 (IPv6) length 40. Other TS types (e.g. RFC 9478
    // security labels) are not supported and fail decoding.

    static func decodeTrafficSelectors(_ body: ArraySlice<UInt8>) throws(IKEDecodeError) -> [IKETrafficSelector] {
        try IKEPayloadCodec.requireBody(body, atLeast: 4, "traffic selector")
        let count = Int(body[body.startIndex])
        var selectors: [IKETrafficSelector] = []
        var position = body.startIndex + 4
        while position < body.endIndex {
            let left = body.endIndex - position
            guard left >= 4 else {
                throw IKEDecodeError("traffic selector truncated: needs 4 bytes, \(left) left", offset: position)
            }
            let tsType = body[position]
            let length = Int(readUInt16(body, position + 2))
            let addressSize: Int
            switch IKETrafficSelectorType(rawValue: tsType) {
            case .ipv4AddressRange: addressSize = 4
            case .ipv6AddressRange: addressSize = 16
            case nil: throw IKEDecodeError("unsupported traffic selector type \(tsType)", offset: position)
            }
            guard length == 8 + 2 * addressSize else {
                throw IKEDecodeError("traffic selector type \(tsType) has length \(length), must be \(8 + 2 * addressSize)",
                                     offset: position + 2)
            }
            guard length <= left else {
                throw IKEDecodeError("traffic selector length \(length) exceeds the \(left) bytes left", offset: position + 2)
            }
            let startAt = position + 8, endAt = position + 8 + addressSize
            guard let startAddress = IPAddress(bytes: body[startAt..<(startAt + addressSize)]),
                  let endAddress = IPAddress(bytes: body[endAt..<(endAt + addressSize)]) else {
                throw IKEDecodeError("traffic selector address of \(addressSize) bytes", offset: startAt)
            }
            selectors.append(IKETrafficSelector(ipProtocol: body[position + 1], startPort: readUInt16(body, position + 4),
                                                endPort: readUInt16(body, position + 6),
                                                startAddress: startAddress, endAddress: endAddress))
            position += length
        }
        guard selectors.count == count else {
            throw IKEDecodeError("TS payload announces \(count) selectors, carries \(selectors.count)",
                                 offset: body.startIndex)
        }
        return selectors
    }

    static func encodeTrafficSelectors(_ selectors: [IKETrafficSelector], into out: inout [UInt8]) {
        precondition(selectors.count <= 255, "more than 255 traffic selectors")
        out += [UInt8(selectors.count), 0, 0, 0]
        for selector in selectors {
            precondition(selector.startAddress.family == selector.endAddress.family,
                         "traffic selector mixes address families")
            let isV4 = selector.startAddress.family == .v4
            out.append(isV4 ? IKETrafficSelectorType.ipv4AddressRange.rawValue
                            : IKETrafficSelectorType.ipv6AddressRange.rawValue)
            out.append(selector.ipProtocol)
            appendUInt16(isV4 ? 16 : 40, to: &out)
            appendUInt16(selector.startPort, to: &out)
            appendUInt16(selector.endPort, to: &out)
            out += selector.startAddress.bytes
            out += selector.endAddress.bytes
        }
    }

    // MARK: - Configuration (§3.15, §3.15.1)
    //
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     |   CFG Type    |                    RESERVED                   |
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     ~                   Configuration Attributes                    ~
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //
    // Each attribute (R is reserved):
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     |R|         Attribute Type      |            Length             |
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    //     ~                             Value                             ~
    //     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

    static func decodeConfiguration(_ body: ArraySlice<UInt8>)
        throws(IKEDecodeError) -> (type: UInt8, attributes: [IKEConfigurationAttribute]) {
        try IKEPayloadCodec.requireBody(body, atLeast: 4, "configuration")
        var attributes: [IKEConfigurationAttribute] = []
        var position = body.startIndex + 4
        while position < body.endIndex {
            let left = body.endIndex - position
            guard left >= 4 else {
                throw IKEDecodeError("configuration attribute truncated: needs 4 bytes, \(left) left", offset: position)
            }
            let length = Int(readUInt16(body, position + 2))
            guard 4 + length <= left else {
                throw IKEDecodeError("configuration attribute length \(length) exceeds the \(left - 4) bytes left",
                                     offset: position + 2)
            }
            attributes.append(IKEConfigurationAttribute(type: readUInt16(body, position) & 0x7fff,
                                                        value: Array(body[(position + 4)..<(position + 4 + length)])))
            position += 4 + length
        }
        return (body[body.startIndex], attributes)
    }

    static func encodeConfiguration(type: UInt8, _ attributes: [IKEConfigurationAttribute], into out: inout [UInt8]) {
        out += [type, 0, 0, 0]
        for attribute in attributes {
            precondition(attribute.type <= 0x7fff, "configuration attribute type over 15 bits")
            precondition(attribute.value.count <= Int(UInt16.max), "configuration attribute over 65535 bytes")
            appendUInt16(attribute.type, to: &out)
            appendUInt16(UInt16(attribute.value.count), to: &out)
            out += attribute.value
        }
    }
}
