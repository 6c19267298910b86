import Crypto

// EAP-MD5-Challenge (RFC 3748 §5.4): CHAP (RFC 1994) in EAP. Type-Data is
//   Value-Size | Value | Name
// where the request's Value is the challenge and the response's is
// MD5(Identifier || secret || challenge), Identifier being the EAP packet's. It authenticates
// only the peer and makes no MSK, so IKE's AUTH falls back to SK_pi/SK_pr (RFC 7296 §2.16).

private let md5ChallengeLength = 16

private func chapResponse(identifier: UInt8, secret: [UInt8], challenge: [UInt8]) -> [UInt8] {
    Array(Insecure.MD5.hash(data: [identifier] + secret + challenge))
}

/// The authenticator side of EAP-MD5: one challenge, one response.
public struct EAPMD5Server: EAPServerMethod {
    public var type: EAPType { .md5 }

    private let serverName: [UInt8]
    private let identity: [UInt8]
    private let secret: [UInt8]?
    private var random: EngineRandom
    private var state = State.idle

    private enum State: Sendable {
        case idle
        case challenged(identifier: UInt8, challenge: [UInt8])
        case done
    }

    /// `secret`: the EAP identity's password in clear (CHAP needs it), nil for a user we do not
    /// know, which fails only once the response is in.
    public init(serverName: String, identity: [UInt8], secret: [UInt8]?, random: EngineRandom) {
        self.serverName = Array(serverName.utf8)
        self.identity = identity
        self.secret = secret
        self.random = random
    }

    public mutating func start(identifier: UInt8) -> EAPServerStep {
        guard case .idle = state else { return finish("EAP-MD5 started twice") }
        let challenge = random.bytes(md5ChallengeLength)
        state = .challenged(identifier: identifier, challenge: challenge)
        return .request(EAPPacket(code: .request, identifier: identifier, type: .md5,
                                  data: [UInt8(md5ChallengeLength)] + challenge + serverName))
    }

    public mutating func process(_ response: EAPPacket) -> EAPServerStep {
        guard case .challenged(let identifier, let challenge) = state else {
            return finish("EAP-MD5 response outside its one challenge")
        }
        guard response.code == .response, response.methodType == .md5 else {
            if response.methodType == .nak { return finish("peer refused EAP_MD5 (NAK)") }
            return finish("expected an EAP_MD5 response, got \(response.code) of type \(response.type.map(String.init) ?? "none")")
        }
        let data = response.data
        guard data.count >= 1 + md5ChallengeLength, data[0] == md5ChallengeLength else {
            return finish("malformed EAP-MD5 response: Value-Size \(data.first.map(String.init) ?? "none") in \(data.count) bytes")
        }
        let who = printableBytes(identity)
        guard let secret else { return finish("unknown EAP identity '\(who)'") }
        let received = Array(data[1...md5ChallengeLength])
        guard constantTimeEqual(received, chapResponse(identifier: identifier, secret: secret, challenge: challenge)) else {
            return finish("EAP-MD5 verification failed for '\(who)'")
        }
        state = .done
        return .success(msk: nil)
    }

    private mutating func finish(_ reason: String) -> EAPServerStep {
        state = .done
        return .failure(reason: reason)
    }
}

/// The client side of EAP-MD5. It cannot tell a real server from an impostor, so it is
/// complete as soon as it has answered.
public struct EAPMD5Peer: EAPPeerMethod {
    public var type: EAPType { .md5 }
    public private(set) var isComplete = false
    public var msk: [UInt8]? { nil }

    private let identity: [UInt8]
    private let secret: [UInt8]

    /// `identity` goes in the response's Name; the password is used as UTF-8.
    public init(identity: [UInt8], password: String) {
        self.identity = identity
        secret = Array(password.utf8)
    }

    public mutating func process(_ request: EAPPacket) -> EAPPeerStep {
        guard request.code == .request, request.methodType == .md5 else {
            return .failure(reason: "expected an EAP_MD5 request, got \(request.code) of type \(request.type.map(String.init) ?? "none")")
        }
        let data = request.data
        guard let valueSize = data.first.map(Int.init), valueSize > 0, data.count >= 1 + valueSize else {
            return .failure(reason: "malformed EAP-MD5 request: Value-Size \(data.first.map(String.init) ?? "none") in \(data.count) bytes")
        }
        let challenge = Array(data[1...valueSize])
        let value = chapResponse(identifier: request.identifier, secret: secret, challenge: challenge)
        isComplete = true
        return .response(EAPPacket(code: .response, identifier: request.identifier, type: .md5,
                                   data: [UInt8(value.count)] + value + identity))
    }
}
