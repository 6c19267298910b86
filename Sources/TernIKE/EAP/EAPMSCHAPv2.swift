import TernCrypto

// EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2-02): MS-CHAPv2 (RFC 2759) in EAP Type-Data.
// Every packet starts with OpCode, MS-CHAPv2-ID and MS-Length (OpCode to the end):
//
//   Challenge (request)   1 | id | len | Value-Size 16 | Authenticator-Challenge | Name
//   Response              2 | id | len | Value-Size 49 | Peer-Challenge 16, Reserved 8,
//                                                         NT-Response 24, Flags 1 | Name
//   Success (request)     3 | id | len | "S=<40 hex> M=<message>"
//   Success (response)    3
//   Failure (request)     4 | id | len | "E=691 R=0 C=<32 hex> V=3 M=<message>"
//   Failure (response)    4
//
// The server answers a bad response with a Failure request rather than failing at once, the
// same for an unknown user as for a wrong password, so the peer cannot tell which it was.

enum MSCHAPv2OpCode: UInt8 {
    case challenge = 1, response = 2, success = 3, failure = 4
}

/// The MS-CHAPv2 header of a Challenge, Response, Success or Failure request, and what follows it.
struct MSCHAPv2Packet {
    var opCode: MSCHAPv2OpCode
    var id: UInt8
    var body: ArraySlice<UInt8>

    /// Parses Type-Data that carries the full header; the body ends where MS-Length says.
    init(typeData data: [UInt8]) throws(EAPDecodeError) {
        guard let first = data.first else { throw EAPDecodeError("EAP-MSCHAPv2 packet without an OpCode") }
        guard let opCode = MSCHAPv2OpCode(rawValue: first) else { throw EAPDecodeError("unknown EAP-MSCHAPv2 OpCode \(first)") }
        guard data.count >= 4 else { throw EAPDecodeError("EAP-MSCHAPv2 \(opCode) of \(data.count) bytes is shorter than its header") }
        let msLength = Int(data[2]) << 8 | Int(data[3])
        guard msLength >= 4, msLength <= data.count else {
            throw EAPDecodeError("EAP-MSCHAPv2 MS-Length \(msLength) does not fit the \(data.count) bytes received")
        }
        self.opCode = opCode
        id = data[1]
        body = data[4..<msLength]
    }

    init(opCode: MSCHAPv2OpCode, id: UInt8, body: [UInt8]) {
        self.opCode = opCode; self.id = id; self.body = body[...]
    }

    var typeData: [UInt8] {
        let msLength = 4 + body.count
        return [opCode.rawValue, id, UInt8(msLength >> 8), UInt8(msLength & 0xFF)] + body
    }
}

private let challengeLength = 16
private let responseValueSize = 49

/// Bytes from a peer, shown in a log line: printable ASCII as is, anything else as \xNN.
func printableBytes(_ bytes: some Sequence<UInt8>) -> String {
    var text = ""
    for byte in bytes {
        if byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\\") {
            text.unicodeScalars.append(Unicode.Scalar(byte))
        } else {
            text += "\\x" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
        }
    }
    return text
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

private func uppercaseHex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16, uppercase: true).leftPadded(to: 2) }.joined()
}

/// The authenticator side of EAP-MSCHAPv2: one challenge, no retries (R=0).
public struct EAPMSCHAPv2Server: EAPServerMethod {
    public var type: EAPType { .mschapv2 }

    private let serverName: [UInt8]
    private let identity: [UInt8]
    private let ntPasswordHash: [UInt8]?
    private var random: EngineRandom
    private var state = State.idle

    private enum State: Sendable {
        case idle
        /// `identifier` is the Challenge's EAP identifier, and its MS-CHAPv2-ID too.
        case challenged(identifier: UInt8, challenge: [UInt8])
        /// The Success request went out; the peer's Success response completes the method.
        case awaitingSuccessAck(msk: [UInt8])
        /// The Failure request went out; whatever the peer answers, this is the outcome.
        case awaitingFailureAck(reason: String)
        case done
    }

    /// `identity`: the peer's EAP identity, which the Response's Name must repeat.
    /// `ntPasswordHash`: that user's NtPasswordHash (16 bytes), nil for a user we do not know;
    /// the peer learns that only as a failed login, after it has answered. `random` makes the
    /// challenges.
    public init(serverName: String, identity: [UInt8], ntPasswordHash: [UInt8]?, random: EngineRandom) {
        precondition(ntPasswordHash.map { $0.count == 16 } ?? true, "an NtPasswordHash is 16 bytes")
        self.serverName = Array(serverName.utf8)
        self.identity = identity
        self.ntPasswordHash = ntPasswordHash
        self.random = random
    }

    public mutating func start(identifier: UInt8) -> EAPServerStep {
        guard case .idle = state else { return finish("EAP-MSCHAPv2 started twice") }
        let challenge = random.bytes(challengeLength)
        // MS-CHAPv2-ID follows the EAP identifier, as strongSwan and Windows do.
        state = .challenged(identifier: identifier, challenge: challenge)
        let packet = MSCHAPv2Packet(opCode: .challenge, id: identifier, body: [UInt8(challengeLength)] + challenge + serverName)
        return .request(EAPPacket(code: .request, identifier: identifier, type: .mschapv2, data: packet.typeData))
    }

    public mutating func process(_ response: EAPPacket) -> EAPServerStep {
        if case .awaitingFailureAck(let reason) = state { return finish(reason) }
        guard response.code == .response, response.methodType == .mschapv2 else {
            if response.methodType == .nak { return finish("peer refused EAP_MSCHAPV2 (NAK)") }
            return finish("expected an EAP_MSCHAPV2 response, got \(response.code) of type \(response.type.map(String.init) ?? "none")")
        }
        switch state {
        case .challenged(let identifier, let challenge):
            return processResponse(response.data, identifier: identifier, challenge: challenge)
        case .awaitingSuccessAck(let msk):
            guard response.data.first == MSCHAPv2OpCode.success.rawValue else {
                return finish("peer answered the EAP-MSCHAPv2 Success request with OpCode \(response.data.first.map(String.init) ?? "none")")
            }
            state = .done
            return .success(msk: msk)
        case .idle:
            return finish("EAP-MSCHAPv2 response before the challenge")
        case .done, .awaitingFailureAck:
            return finish("EAP-MSCHAPv2 response after the outcome")
        }
    }

    private mutating func processResponse(_ typeData: [UInt8], identifier: UInt8, challenge: [UInt8]) -> EAPServerStep {
        let packet: MSCHAPv2Packet
        do { packet = try MSCHAPv2Packet(typeData: typeData) } catch { return finish("malformed EAP-MSCHAPv2 Response: \(error)") }
        guard packet.opCode == .response else { return finish("expected an EAP-MSCHAPv2 Response, got OpCode \(packet.opCode)") }
        guard packet.id == identifier else { return finish("EAP-MSCHAPv2 Response for MS-CHAPv2-ID \(packet.id), not \(identifier)") }
        let body = Array(packet.body)
        guard body.count >= 1 + responseValueSize, body[0] == responseValueSize else {
            return finish("malformed EAP-MSCHAPv2 Response: Value-Size \(body.first.map(String.init) ?? "none") in \(body.count) bytes")
        }
        let peerChallenge = Array(body[1..<17])
        let ntResponse = Array(body[25..<49])
        let name = Array(body[(1 + responseValueSize)...])
        let who = printableBytes(identity)

        let reason: String
        if name != identity {
            reason = "EAP-MSCHAPv2 name '\(printableBytes(name))' is not the EAP identity '\(who)'"
        } else if let ntPasswordHash {
            let expected = MSCHAPv2.ntResponse(
                authenticatorChallenge: challenge, peerChallenge: peerChallenge,
                userName: MSCHAPv2.userName(fromName: name), passwordHash: ntPasswordHash)
            if constantTimeEqual(expected, ntResponse) {
                let authenticatorResponse = MSCHAPv2.authenticatorResponse(
                    passwordHash: ntPasswordHash, ntResponse: ntResponse, peerChallenge: peerChallenge,
                    authenticatorChallenge: challenge, userName: MSCHAPv2.userName(fromName: name))
                state = .awaitingSuccessAck(msk: MSCHAPv2.msk(passwordHash: ntPasswordHash, ntResponse: ntResponse))
                let message = MSCHAPv2Packet(opCode: .success, id: identifier, body: Array("\(authenticatorResponse) M=Welcome".utf8))
                return .request(EAPPacket(code: .request, identifier: identifier &+ 1, type: .mschapv2, data: message.typeData))
            }
            reason = "EAP-MSCHAPv2 verification failed for '\(who)'"
        } else {
            reason = "unknown EAP identity '\(who)'"
        }
        // 691 is ERROR_AUTHENTICATION_FAILURE; C= is the challenge a retry would use (R=0: none).
        state = .awaitingFailureAck(reason: reason)
        let text = "E=691 R=0 C=\(uppercaseHex(random.bytes(challengeLength))) V=3 M=Authentication failed"
        let message = MSCHAPv2Packet(opCode: .failure, id: identifier, body: Array(text.utf8))
        return .request(EAPPacket(code: .request, identifier: identifier &+ 1, type: .mschapv2, data: message.typeData))
    }

    private mutating func finish(_ reason: String) -> EAPServerStep {
        state = .done
        return .failure(reason: reason)
    }
}

/// The client side of EAP-MSCHAPv2: answers the challenge and completes only once the server's
/// authenticator response proves it knows the password too.
public struct EAPMSCHAPv2Peer: EAPPeerMethod {
    public var type: EAPType { .mschapv2 }
    public private(set) var isComplete = false
    public private(set) var msk: [UInt8]?

    private let identity: [UInt8]
    private let passwordHash: [UInt8]
    private var random: EngineRandom
    private var state = State.awaitingChallenge

    private enum State: Sendable {
        case awaitingChallenge
        case responded(id: UInt8, authenticatorChallenge: [UInt8], peerChallenge: [UInt8], ntResponse: [UInt8])
        case done
    }

    /// `identity` goes in the Response's Name (and, without a `DOMAIN\` prefix, into the
    /// challenge hash). Only the password's hash is kept. `random` makes the peer challenge.
    public init(identity: [UInt8], password: String, random: EngineRandom = .system()) {
        self.identity = identity
        passwordHash = MSCHAPv2.ntPasswordHash(password)
        self.random = random
    }

    public mutating func process(_ request: EAPPacket) -> EAPPeerStep {
        guard request.code == .request, request.methodType == .mschapv2 else {
            return fail("expected an EAP_MSCHAPV2 request, got \(request.code) of type \(request.type.map(String.init) ?? "none")")
        }
        let packet: MSCHAPv2Packet
        do { packet = try MSCHAPv2Packet(typeData: request.data) } catch { return fail("malformed EAP-MSCHAPv2 request: \(error)") }

        switch (state, packet.opCode) {
        case (.awaitingChallenge, .challenge):
            let body = Array(packet.body)
            guard body.count >= 1 + challengeLength, body[0] == challengeLength else {
                return fail("malformed EAP-MSCHAPv2 Challenge: Value-Size \(body.first.map(String.init) ?? "none") in \(body.count) bytes")
            }
            let authenticatorChallenge = Array(body[1...challengeLength])
            let peerChallenge = random.bytes(challengeLength)
            let ntResponse = MSCHAPv2.ntResponse(
                authenticatorChallenge: authenticatorChallenge, peerChallenge: peerChallenge,
                userName: MSCHAPv2.userName(fromName: identity), passwordHash: passwordHash)
            state = .responded(id: packet.id, authenticatorChallenge: authenticatorChallenge, peerChallenge: peerChallenge, ntResponse: ntResponse)
            let value = peerChallenge + [UInt8](repeating: 0, count: 8) + ntResponse + [0]
            let response = MSCHAPv2Packet(opCode: .response, id: packet.id, body: [UInt8(responseValueSize)] + value + identity)
            return .response(EAPPacket(code: .response, identifier: request.identifier, type: .mschapv2, data: response.typeData))

        case (.responded(let id, let authenticatorChallenge, let peerChallenge, let ntResponse), .success):
            guard packet.id == id else { return fail("EAP-MSCHAPv2 Success for MS-CHAPv2-ID \(packet.id), not \(id)") }
            // "S=<40 hex>" first; the " M=<message>" after it is for people.
            let verified = MSCHAPv2.checkAuthenticatorResponse(
                Array(packet.body.prefix(42)), passwordHash: passwordHash, ntResponse: ntResponse, peerChallenge: peerChallenge,
                authenticatorChallenge: authenticatorChallenge, userName: MSCHAPv2.userName(fromName: identity))
            guard verified else { return fail("the EAP-MSCHAPv2 server's authenticator response did not verify") }
            state = .done
            isComplete = true
            msk = MSCHAPv2.msk(passwordHash: passwordHash, ntResponse: ntResponse)
            return .response(EAPPacket(code: .response, identifier: request.identifier, type: .mschapv2, data: [MSCHAPv2OpCode.success.rawValue]))

        case (.responded, .failure):
            // We do not retry or change passwords: acknowledge, and the EAP-Failure follows.
            state = .done
            return .response(EAPPacket(code: .response, identifier: request.identifier, type: .mschapv2, data: [MSCHAPv2OpCode.failure.rawValue]))

        default:
            return fail("unexpected EAP-MSCHAPv2 \(packet.opCode) request")
        }
    }

    private mutating func fail(_ reason: String) -> EAPPeerStep {
        state = .done
        return .failure(reason: reason)
    }
}
