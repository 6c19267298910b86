import Crypto
import TernWire

/// Stateless IKE_SA_INIT cookies (RFC 7296 §2.6): `<VersionIDofSecret> | Hash(Ni | IPi | SPIi |
/// <secret>)`. A value type so the daemon's socket reader can answer a flood with cookies itself,
/// without queueing it for the engine, while the engine checks the cookies that come back; both
/// use the same secret.
public struct IKECookies: Sendable {
    private let secret: [UInt8]

    init(secret: [UInt8]) { self.secret = secret }

    public func expected(nonce: [UInt8], address: IPAddress, initiatorSPI: UInt64) -> [UInt8] {
        var h = SHA256()
        h.update(data: nonce); h.update(data: address.bytes); h.update(data: initiatorSPI.bigEndianBytes); h.update(data: secret)
        return [0] + Array(h.finalize())
    }

    /// The COOKIE response to an IKE_SA_INIT request that does not return a cookie, or nil when
    /// `bytes` is not such a request (it carries a COOKIE, or is not an IKE_SA_INIT request, or
    /// does not parse): those go to the engine. Reads only the header and the payload chain (the
    /// reader answers floods with it: a full decode cost most of its time).
    public func answer(_ b: [UInt8], from: IPAddress) -> [UInt8]? {
        // Header (RFC 7296 §3.1): version 2.x, IKE_SA_INIT, a request, responder SPI 0, message 0,
        // the length field equal to the datagram's.
        guard b.count >= 28, b[17] >> 4 == 2, b[18] == IKEExchangeType.ikeSAInit.rawValue, b[19] & 0x20 == 0,
              b[8..<16].allSatisfy({ $0 == 0 }), b[20..<24].allSatisfy({ $0 == 0 }),
              Int(b[24]) << 24 | Int(b[25]) << 16 | Int(b[26]) << 8 | Int(b[27]) == b.count else { return nil }
        var type = b[16], offset = 28
        var nonce: ArraySlice<UInt8>?
        var first = true
        while type != 0 {
            guard offset + 4 <= b.count else { return nil }
            let length = Int(b[offset + 2]) << 8 | Int(b[offset + 3])
            guard length >= 4, offset + length <= b.count else { return nil }
            if first && type == IKEPayloadType.notify.rawValue && length >= 8
                && UInt16(b[offset + 6]) << 8 | UInt16(b[offset + 7]) == IKENotifyType.cookie.rawValue { return nil }
            if type == IKEPayloadType.nonce.rawValue { nonce = b[(offset + 4)..<(offset + length)] }
            first = false
            type = b[offset]
            offset += length
        }
        guard offset == b.count, let nonce, nonce.count >= 16, nonce.count <= 256 else { return nil }
        let spi = b[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Self.reply(initiatorSPI: spi, cookie: expected(nonce: Array(nonce), address: from, initiatorSPI: spi))
    }

    static func reply(initiatorSPI: UInt64, cookie: [UInt8]) -> [UInt8] {
        IKEMessage(header: IKEHeader(initiatorSPI: initiatorSPI, responderSPI: 0, exchangeType: IKEExchangeType.ikeSAInit.rawValue,
                                     flags: [.response], messageID: 0),
                   payloads: [.notify(IKENotify(type: .cookie, data: cookie))]).encode()
    }
}
