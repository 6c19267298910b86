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
    /// does not parse): those go to the engine.
    public func answer(_ bytes: [UInt8], from: IPAddress) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: Self.replyLength)
        let n = bytes.withUnsafeBytes { b in out.withUnsafeMutableBytes { answer(b, from: from, into: $0.baseAddress!) } }
        return n == 0 ? nil : out
    }

    /// Bytes of a cookie answer: the IKE header and one COOKIE notify carrying `0 | SHA-256`.
    public static let replyLength = 28 + 8 + 33

    /// Bytes 16…36 of every cookie answer.
    private static let replyTemplate: [UInt8] = [
        IKEPayloadType.notify.rawValue, 0x20, IKEExchangeType.ikeSAInit.rawValue, 0x20, 0, 0, 0, 0, 0, 0, 0, UInt8(replyLength),
        // Notify: last payload, length 41, protocol 0, SPI size 0, COOKIE; the cookie's version byte 0.
        0, 0, 0, 41, 0, 0, 0x40, 0x06, 0]

    /// `answer` for the socket reader's hot path: reads the request in place and writes the
    /// answer (`replyLength` bytes) to `out`, allocating nothing. Reads only the header and the
    /// payload chain (a full decode cost most of the reader's time). 0: not such a request.
    public func answer(_ b: UnsafeRawBufferPointer, from: IPAddress, into out: UnsafeMutableRawPointer) -> Int {
        // Header (RFC 7296 §3.1): version 2.x, IKE_SA_INIT, a request, responder SPI 0, message 0,
        // the length field equal to the datagram's.
        guard b.count >= 28, b[17] >> 4 == 2, b[18] == IKEExchangeType.ikeSAInit.rawValue, b[19] & 0x20 == 0,
              b.load(fromByteOffset: 8, as: UInt64.self) == 0, b.load(fromByteOffset: 20, as: UInt32.self) == 0,
              Int(b[24]) << 24 | Int(b[25]) << 16 | Int(b[26]) << 8 | Int(b[27]) == b.count else { return 0 }
        var type = b[16], offset = 28
        var nonce = 0..<0
        var first = true
        while type != 0 {
            guard offset + 4 <= b.count else { return 0 }
            let length = Int(b[offset + 2]) << 8 | Int(b[offset + 3])
            guard length >= 4, offset + length <= b.count else { return 0 }
            if first && type == IKEPayloadType.notify.rawValue && length >= 8
                && UInt16(b[offset + 6]) << 8 | UInt16(b[offset + 7]) == IKENotifyType.cookie.rawValue { return 0 }
            if type == IKEPayloadType.nonce.rawValue { nonce = (offset + 4)..<(offset + length) }
            first = false
            type = b[offset]
            offset += length
        }
        guard offset == b.count, nonce.count >= 16, nonce.count <= 256 else { return 0 }
        // Header: SPIi as received, SPIr 0, next payload Notify, version 2.0, IKE_SA_INIT, the
        // Response flag, message ID 0, length.
        out.copyMemory(from: b.baseAddress!, byteCount: 8)
        out.storeBytes(of: 0, toByteOffset: 8, as: UInt64.self)
        Self.replyTemplate.withUnsafeBytes { (out + 16).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        var h = SHA256()
        h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: b[nonce]))
        withUnsafeTemporaryAllocation(byteCount: 16, alignment: 8) { a in
            from.write(to: a.baseAddress!)
            h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: a[0..<from.byteCount]))
        }
        h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: b[0..<8]))
        secret.withUnsafeBytes { h.update(bufferPointer: $0) }
        h.finalize().withUnsafeBytes { (out + 37).copyMemory(from: $0.baseAddress!, byteCount: 32) }
        return Self.replyLength
    }

    static func reply(initiatorSPI: UInt64, cookie: [UInt8]) -> [UInt8] {
        IKEMessage(header: IKEHeader(initiatorSPI: initiatorSPI, responderSPI: 0, exchangeType: IKEExchangeType.ikeSAInit.rawValue,
                                     flags: [.response], messageID: 0),
                   payloads: [.notify(IKENotify(type: .cookie, data: cookie))]).encode()
    }
}
