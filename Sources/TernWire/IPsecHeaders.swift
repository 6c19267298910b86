// Typed views of the ESP and AH headers and the ESP trailer, over packet memory the data plane
// owns (a slot of its batch). Views borrow the pointer for the length of one packet's
// processing; they check nothing: the caller has checked the length first.

/// ESP header (RFC 4303 §2), followed by the IV and the encrypted payload:
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |               Security Parameters Index (SPI)                 |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                      Sequence Number                          |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
@frozen public struct ESPHeaderView {
    public static let size = 8
    public let base: UnsafeMutableRawPointer
    @inlinable public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    @inlinable public var spi: UInt32 {
        get { load32(base, 0) }
        nonmutating set { store32(base, 0, newValue) }
    }
    /// The low 32 bits of the sequence number (the high bits of an ESN are never sent).
    @inlinable public var sequence: UInt32 {
        get { load32(base, 4) }
        nonmutating set { store32(base, 4, newValue) }
    }
}

/// ESP trailer (RFC 4303 §2.4) at the end of the decrypted payload: padding 1, 2, 3…, then
///
///     | Pad Length    | Next Header   |
@frozen public struct ESPTrailerView {
    /// The decrypted payload (padding and trailer included) and its length.
    public let plaintext: UnsafeMutableRawPointer
    public let length: Int
    @inlinable public init(plaintext: UnsafeMutableRawPointer, length: Int) { self.plaintext = plaintext; self.length = length }

    @inlinable public var padLength: Int { Int(plaintext.load(fromByteOffset: length - 2, as: UInt8.self)) }
    @inlinable public var nextHeader: UInt8 { plaintext.load(fromByteOffset: length - 1, as: UInt8.self) }

    /// Writes padding 1, 2, 3… of `padLength` octets, the pad length and the next header right
    /// after `payloadLength` octets of payload.
    @inlinable public static func write(after payload: UnsafeMutableRawPointer, payloadLength: Int, padLength: Int, nextHeader: UInt8) {
        let trailer = payload + payloadLength
        var i = 0
        while i < padLength { trailer.storeBytes(of: UInt8(truncatingIfNeeded: i + 1), toByteOffset: i, as: UInt8.self); i += 1 }
        trailer.storeBytes(of: UInt8(truncatingIfNeeded: padLength), toByteOffset: padLength, as: UInt8.self)
        trailer.storeBytes(of: nextHeader, toByteOffset: padLength + 1, as: UInt8.self)
    }

    /// Whether the padding is 1, 2, 3… as RFC 4303 §2.4 has the sender write it.
    @inlinable public var paddingIsMonotonic: Bool {
        let pad = padLength, start = length - 2 - pad
        var i = 0
        while i < pad {
            if plaintext.load(fromByteOffset: start + i, as: UInt8.self) != UInt8(truncatingIfNeeded: i + 1) { return false }
            i += 1
        }
        return true
    }
}

/// AH header (RFC 4302 §2), in front of the protected payload:
///
///      0                   1                   2                   3
///      0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     | Next Header   |  Payload Len  |          RESERVED             |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                 Security Parameters Index (SPI)               |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                    Sequence Number Field                      |
///     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///     |                Integrity Check Value-ICV (variable)           |
@frozen public struct AHHeaderView {
    /// The header before the ICV.
    public static let fixedSize = 12
    public let base: UnsafeMutableRawPointer
    @inlinable public init(_ base: UnsafeMutableRawPointer) { self.base = base }

    @inlinable public var nextHeader: UInt8 {
        get { base.load(as: UInt8.self) }
        nonmutating set { base.storeBytes(of: newValue, as: UInt8.self) }
    }
    /// The whole header in octets, ICV included (Payload Len is in 32-bit words, minus 2).
    @inlinable public var length: Int {
        get { (Int(base.load(fromByteOffset: 1, as: UInt8.self)) + 2) * 4 }
        nonmutating set {
            base.storeBytes(of: UInt8(truncatingIfNeeded: newValue / 4 - 2), toByteOffset: 1, as: UInt8.self)
            base.storeBytes(of: UInt16(0), toByteOffset: 2, as: UInt16.self)
        }
    }
    @inlinable public var spi: UInt32 {
        get { load32(base, 4) }
        nonmutating set { store32(base, 4, newValue) }
    }
    @inlinable public var sequence: UInt32 {
        get { load32(base, 8) }
        nonmutating set { store32(base, 8, newValue) }
    }
    @inlinable public var icv: UnsafeMutableRawPointer { base + Self.fixedSize }
}

/// The next-header field of an IPv4 (protocol, octet 9) or IPv6 (next header, octet 6) header.
@inlinable public func setIPNextHeader(_ header: UnsafeMutableRawPointer, _ proto: UInt8) {
    header.storeBytes(of: proto, toByteOffset: header.load(as: UInt8.self) >> 4 == 4 ? 9 : 6, as: UInt8.self)
}
