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
    /// does not decode): those go to the engine.
    public func answer(_ bytes: [UInt8], from: IPAddress) -> [UInt8]? {
        guard let message = try? IKEMessage(decoding: bytes), message.header.exchangeType == IKEExchangeType.ikeSAInit.rawValue,
              !message.header.flags.contains(.response), message.header.responderSPI == 0, message.header.messageID == 0 else { return nil }
        if case .notify(let n)? = message.payloads.first, n.type == .cookie { return nil }
        let nonce: [UInt8] = message.payloads.compactMap { if case .nonce(let n) = $0 { n } else { nil } }.first ?? []
        return Self.reply(initiatorSPI: message.header.initiatorSPI,
                          cookie: expected(nonce: nonce, address: from, initiatorSPI: message.header.initiatorSPI))
    }

    static func reply(initiatorSPI: UInt64, cookie: [UInt8]) -> [UInt8] {
        IKEMessage(header: IKEHeader(initiatorSPI: initiatorSPI, responderSPI: 0, exchangeType: IKEExchangeType.ikeSAInit.rawValue,
                                     flags: [.response], messageID: 0),
                   payloads: [.notify(IKENotify(type: .cookie, data: cookie))]).encode()
    }
}
