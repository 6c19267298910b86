import Foundation
import Testing
import TernCrypto
@testable import TernIKE

/// EAP-MSCHAPv2 and EAP-MD5, server and peer talking in memory through encoded EAP packets.
@Suite struct EAPMSCHAPv2Tests {
    static let user = Array("User".utf8)
    static let password = "clientPass"

    /// Every packet that crossed, and how each side ended.
    struct Conversation {
        var requests: [EAPPacket] = []
        var responses: [EAPPacket] = []
        var serverOutcome: EAPServerStep?
        var peerFailure: String?
    }

    /// Runs the method to its end. Packets go through their wire form, and `tamper` may rewrite
    /// a request before the peer sees it.
    static func converse(
        _ server: inout some EAPServerMethod, _ peer: inout some EAPPeerMethod,
        tamper: (EAPPacket) -> EAPPacket = { $0 }
    ) throws -> Conversation {
        var conversation = Conversation()
        var step = server.start(identifier: 7)
        for _ in 0..<8 {
            guard case .request(let sent) = step else {
                conversation.serverOutcome = step
                return conversation
            }
            let request = tamper(try EAPPacket(bytes: sent.bytes))
            conversation.requests.append(request)
            switch peer.process(request) {
            case .response(let answer):
                #expect(answer.identifier == request.identifier, "a response echoes its request's identifier")
                let response = try EAPPacket(bytes: answer.bytes)
                conversation.responses.append(response)
                step = server.process(response)
            case .failure(let reason):
                conversation.peerFailure = reason
                return conversation
            }
        }
        Issue.record("the method did not end")
        return conversation
    }

    static func server(identity: [UInt8] = user, password: String? = password, seed: UInt64 = 1) -> EAPMSCHAPv2Server {
        EAPMSCHAPv2Server(serverName: "gateway", identity: identity, ntPasswordHash: password.map(MSCHAPv2.ntPasswordHash),
                          random: .seeded(seed))
    }

    static func peer(identity: [UInt8] = user, password: String = password, seed: UInt64 = 2) -> EAPMSCHAPv2Peer {
        EAPMSCHAPv2Peer(identity: identity, password: password, random: .seeded(seed))
    }

    /// The MS-CHAPv2 message text of a Success or Failure request (after its 4-byte header).
    static func message(_ request: EAPPacket) -> String {
        String(decoding: request.data.dropFirst(4), as: UTF8.self)
    }

    @Test func theRightPasswordSucceedsWithTheSameMSKOnBothSides() throws {
        var server = Self.server(), peer = Self.peer()
        let c = try Self.converse(&server, &peer)
        guard case .success(let msk)? = c.serverOutcome else { Issue.record("server: \(String(describing: c.serverOutcome))"); return }
        #expect(msk?.count == 64 && msk == peer.msk && peer.isComplete)
        #expect(msk.map { $0.suffix(32).allSatisfy { $0 == 0 } } == true)

        // Challenge, Success; Response, Success-Response; identifiers count up from 7.
        #expect(c.requests.map(\.data.first) == [1, 3] && c.responses.map(\.data) .last == [3])
        #expect(c.requests.map(\.identifier) == [7, 8])
        let challenge = c.requests[0].data
        #expect(Int(challenge[2]) << 8 | Int(challenge[3]) == challenge.count, "MS-Length covers OpCode to the end")
        #expect(challenge[4] == 16 && Array(challenge[21...]) == Array("gateway".utf8))
        #expect(Self.message(c.requests[1]).hasPrefix("S=") && Self.message(c.requests[1]).contains(" M="))

        // The Response carries what RFC 2759 says for the challenges it names.
        let response = c.responses[0].data
        #expect(response[0] == 2 && response[1] == challenge[1] && response[4] == 49)
        #expect(Array(response[54...]) == Self.user && response[21..<29].allSatisfy { $0 == 0 } && response[53] == 0)
        let expected = MSCHAPv2.ntResponse(
            authenticatorChallenge: Array(challenge[5..<21]), peerChallenge: Array(response[5..<21]),
            userName: Self.user, passwordHash: MSCHAPv2.ntPasswordHash(Self.password))
        #expect(Array(response[29..<53]) == expected)
        #expect(msk == MSCHAPv2.msk(passwordHash: MSCHAPv2.ntPasswordHash(Self.password), ntResponse: expected))
    }

    /// The peer is not complete (and has no MSK) before the Success request is verified.
    @Test func thePeerIsIncompleteUntilTheServerProvesItself() throws {
        var server = Self.server(), peer = Self.peer()
        guard case .request(let challenge) = server.start(identifier: 1) else { Issue.record("no challenge"); return }
        guard case .response = peer.process(challenge) else { Issue.record("no response"); return }
        #expect(!peer.isComplete && peer.msk == nil)
    }

    /// A `DOMAIN\user` identity: the Name repeats it whole, the hashes leave out the domain.
    @Test func aDomainPrefixIsLeftOutOfTheChallengeHash() throws {
        let identity = Array("CORP\\User".utf8)
        var server = Self.server(identity: identity), peer = Self.peer(identity: identity)
        let c = try Self.converse(&server, &peer)
        guard case .success(let msk)? = c.serverOutcome else { Issue.record("server: \(String(describing: c.serverOutcome))"); return }
        #expect(msk == peer.msk && peer.isComplete)
        let challenge = c.requests[0].data, response = c.responses[0].data
        #expect(Array(response[54...]) == identity)
        let withoutDomain = MSCHAPv2.ntResponse(
            authenticatorChallenge: Array(challenge[5..<21]), peerChallenge: Array(response[5..<21]),
            userName: Self.user, passwordHash: MSCHAPv2.ntPasswordHash(Self.password))
        #expect(Array(response[29..<53]) == withoutDomain)
    }

    @Test func aWrongPasswordFailsWithoutSayingThePassword() throws {
        var server = Self.server(), peer = Self.peer(password: "guessed-wrong")
        let c = try Self.converse(&server, &peer)
        guard case .failure(let reason)? = c.serverOutcome else { Issue.record("server: \(String(describing: c.serverOutcome))"); return }
        #expect(reason.contains("'User'"))
        for secret in [Self.password, "guessed-wrong"] { #expect(!reason.contains(secret)) }
        let hashes = [MSCHAPv2.ntPasswordHash(Self.password), MSCHAPv2.ntPasswordHash("guessed-wrong")]
        for hash in hashes {
            #expect(!reason.lowercased().contains(hash.map { String(format: "%02x", $0) }.joined()))
        }
        // The server says so in a Failure request, which the peer acknowledges.
        #expect(c.requests.map(\.data.first) == [1, 4] && c.responses.last?.data == [4])
        let failure = Self.message(c.requests[1])
        #expect(failure.hasPrefix("E=691 R=0 C=") && failure.hasSuffix(" V=3 M=Authentication failed"))
        #expect(failure.split(separator: " ")[2].count == 2 + 32)
        #expect(!peer.isComplete && peer.msk == nil)
    }

    /// An unknown user fails only after answering, through the same Failure request as a wrong
    /// password, so the peer cannot tell the two apart.
    @Test func anUnknownUserLooksLikeAWrongPassword() throws {
        var server = Self.server(password: nil), peer = Self.peer()
        let c = try Self.converse(&server, &peer)
        #expect(c.serverOutcome == .failure(reason: "unknown EAP identity 'User'"))
        #expect(c.requests.map(\.data.first) == [1, 4] && c.responses.last?.data == [4])

        var knownServer = Self.server(), wrongPeer = Self.peer(password: "other")
        let wrong = try Self.converse(&knownServer, &wrongPeer)
        #expect(wrong.requests.map(\.data.count) == c.requests.map(\.data.count))
    }

    @Test func aNameThatIsNotTheEAPIdentityFails() throws {
        var server = Self.server(), peer = Self.peer(identity: Array("Mallory".utf8))
        let c = try Self.converse(&server, &peer)
        guard case .failure(let reason)? = c.serverOutcome else { Issue.record("server: \(String(describing: c.serverOutcome))"); return }
        #expect(reason.contains("'Mallory'") && reason.contains("'User'"))
        #expect(c.requests.last?.data.first == 4)
    }

    /// A server that does not know the password cannot forge the authenticator response.
    @Test(arguments: [
        { (s: String) in s.replacingOccurrences(of: "S=", with: "S=0") },
        { (s: String) in String(s.prefix(2)) + (s.dropFirst(2).first == "A" ? "B" : "A") + s.dropFirst(3) },
        { (s: String) in "M=Welcome" },
    ] as [@Sendable (String) -> String])
    func aTamperedAuthenticatorResponseFailsThePeer(_ rewrite: @Sendable (String) -> String) throws {
        var server = Self.server(), peer = Self.peer()
        let c = try Self.converse(&server, &peer) { request in
            guard request.data.first == 3 else { return request }
            let body = Array(rewrite(Self.message(request)).utf8)
            var data = Array(request.data.prefix(4)) + body
            data[2] = UInt8(data.count >> 8); data[3] = UInt8(data.count & 0xFF)
            return EAPPacket(code: .request, identifier: request.identifier, type: .mschapv2, data: data)
        }
        #expect(c.peerFailure == "the EAP-MSCHAPv2 server's authenticator response did not verify")
        #expect(!peer.isComplete && peer.msk == nil)
    }

    /// Every prefix of a good Response (its MS-Length no longer fits), and other broken ones: the
    /// server fails, never succeeds or traps.
    @Test func malformedResponsesFailTheServer() throws {
        var template = Self.server(), peer = Self.peer()
        guard case .request(let challenge) = template.start(identifier: 3),
              case .response(let good) = peer.process(challenge) else { Issue.record("no exchange"); return }
        for length in 0..<good.data.count {
            var server = Self.server()
            _ = server.start(identifier: 3)
            let step = server.process(EAPPacket(code: .response, identifier: 3, type: .mschapv2, data: Array(good.data.prefix(length))))
            guard case .failure = step else { Issue.record("prefix \(length): \(step)"); continue }
        }
        // A shorter Name with MS-Length to match parses, and is refused as another user.
        var shortName = Array(good.data.dropLast())
        shortName[3] -= 1
        var named = Self.server()
        _ = named.start(identifier: 3)
        guard case .request(let failure) = named.process(EAPPacket(code: .response, identifier: 3, type: .mschapv2, data: shortName)),
              failure.data.first == 4 else { Issue.record("a shortened Name was not refused"); return }
        func fresh(_ data: [UInt8], type: EAPType = .mschapv2) -> EAPServerStep {
            var server = Self.server()
            _ = server.start(identifier: 3)
            return server.process(EAPPacket(code: .response, identifier: 3, type: type, data: data))
        }
        var longMSLength = good.data; longMSLength[3] &+= 1
        var wrongID = good.data; wrongID[1] &+= 1
        var wrongValueSize = good.data; wrongValueSize[4] = 48
        var wrongOpCode = good.data; wrongOpCode[0] = 3
        var unknownOpCode = good.data; unknownOpCode[0] = 9
        for data in [longMSLength, wrongID, wrongValueSize, wrongOpCode, unknownOpCode] {
            guard case .failure = fresh(data) else { Issue.record("accepted \(data.prefix(5))"); continue }
        }
        #expect(fresh([EAPType.mschapv2.rawValue], type: .nak) == .failure(reason: "peer refused EAP_MSCHAPV2 (NAK)"))
        guard case .failure = fresh(good.data, type: .md5) else { Issue.record("accepted another method's response"); return }
        // A response before start, and one after the outcome.
        var unstarted = Self.server()
        guard case .failure = unstarted.process(good) else { Issue.record("accepted a response before the challenge"); return }
    }

    /// The Success request must be acknowledged with a Success response.
    @Test func anUnacknowledgedSuccessFails() throws {
        var server = Self.server(), peer = Self.peer()
        guard case .request(let challenge) = server.start(identifier: 1),
              case .response(let response) = peer.process(challenge),
              case .request(let success) = server.process(response) else { Issue.record("no Success request"); return }
        #expect(success.data.first == 3)
        guard case .failure = server.process(EAPPacket(code: .response, identifier: success.identifier, type: .mschapv2, data: [4]))
        else { Issue.record("a Failure response completed the method"); return }
        guard case .failure = server.process(EAPPacket(code: .response, identifier: success.identifier, type: .mschapv2, data: [3]))
        else { Issue.record("the method went on after failing"); return }
    }

    /// Broken requests fail the peer: every prefix of a Challenge that cuts into its header or
    /// value, a Success before any Challenge, an unknown OpCode, another method.
    @Test func malformedRequestsFailThePeer() throws {
        var server = Self.server()
        guard case .request(let challenge) = server.start(identifier: 3) else { Issue.record("no challenge"); return }
        for length in 0..<21 {
            var peer = Self.peer()
            let request = EAPPacket(code: .request, identifier: 3, type: .mschapv2, data: Array(challenge.data.prefix(length)))
            guard case .failure = peer.process(request) else { Issue.record("prefix \(length) answered"); continue }
        }
        let success = EAPPacket(code: .request, identifier: 4, type: .mschapv2,
                                data: [3, 3, 0, 46] + Array("S=407A5589115FD0D6209F510FE9C04566932CDA56".utf8))
        var early = Self.peer()
        guard case .failure = early.process(success) else { Issue.record("a Success before the Challenge was answered"); return }
        #expect(!early.isComplete)
        var odd = Self.peer()
        guard case .failure = odd.process(EAPPacket(code: .request, identifier: 3, type: .mschapv2, data: [7, 3, 0, 4])) else {
            Issue.record("answered OpCode 7"); return
        }
        var other = Self.peer()
        guard case .failure = other.process(EAPPacket(code: .request, identifier: 3, type: .md5, data: challenge.data)) else {
            Issue.record("answered an EAP-MD5 request"); return
        }
        // A second Challenge after answering the first is not answered again.
        var twice = Self.peer()
        _ = twice.process(challenge)
        guard case .failure = twice.process(challenge) else { Issue.record("answered a second challenge"); return }
    }

    /// Same seeds, same conversation: tests and bug reports can replay an exchange.
    @Test func seededRandomnessReplaysTheSameConversation() throws {
        var s1 = Self.server(), p1 = Self.peer(), s2 = Self.server(), p2 = Self.peer()
        let a = try Self.converse(&s1, &p1), b = try Self.converse(&s2, &p2)
        #expect(a.requests == b.requests && a.responses == b.responses)
        var s3 = Self.server(seed: 9), p3 = Self.peer()
        #expect(try Self.converse(&s3, &p3).requests[0] != a.requests[0])
    }

    // EAP-MD5-Challenge.

    static func md5Server(secret: String? = "secret") -> EAPMD5Server {
        EAPMD5Server(serverName: "gateway", identity: Array("bob".utf8), secret: secret.map { Array($0.utf8) }, random: .seeded(5))
    }

    @Test func md5SucceedsWithoutAnMSK() throws {
        var server = Self.md5Server(), peer = EAPMD5Peer(identity: Array("bob".utf8), password: "secret")
        let c = try Self.converse(&server, &peer)
        #expect(c.serverOutcome == .success(msk: nil))
        #expect(peer.isComplete && peer.msk == nil)
        #expect(c.requests[0].data[0] == 16 && Array(c.requests[0].data[17...]) == Array("gateway".utf8))
        #expect(c.responses[0].data[0] == 16 && Array(c.responses[0].data[17...]) == Array("bob".utf8))
    }

    /// RFC 1994 §4.1: the value is MD5(Identifier || secret || challenge) (computed independently).
    @Test func md5ResponseIsTheCHAPDigest() {
        var peer = EAPMD5Peer(identity: Array("bob".utf8), password: "secret")
        let request = EAPPacket(code: .request, identifier: 5, type: .md5, data: [16] + (0..<16).map(UInt8.init))
        guard case .response(let response) = peer.process(request) else { Issue.record("no response"); return }
        #expect(response.identifier == 5 && response.methodType == .md5)
        let digest = response.data[1..<17].map { String(format: "%02x", $0) }.joined()
        #expect(digest == "0a9065cdcebbe49bd1f1d1fda6ce3ff9")
    }

    @Test func md5FailsForAWrongPasswordAnUnknownUserAndBrokenResponses() throws {
        var server = Self.md5Server(), peer = EAPMD5Peer(identity: Array("bob".utf8), password: "wrong-one")
        let c = try Self.converse(&server, &peer)
        #expect(c.serverOutcome == .failure(reason: "EAP-MD5 verification failed for 'bob'"))

        var unknown = Self.md5Server(secret: nil), rightPeer = EAPMD5Peer(identity: Array("bob".utf8), password: "secret")
        #expect(try Self.converse(&unknown, &rightPeer).serverOutcome == .failure(reason: "unknown EAP identity 'bob'"))

        for data: [UInt8] in [[], [16], [15] + [UInt8](repeating: 0, count: 15), [16] + [UInt8](repeating: 0, count: 15)] {
            var s = Self.md5Server()
            _ = s.start(identifier: 1)
            guard case .failure = s.process(EAPPacket(code: .response, identifier: 1, type: .md5, data: data)) else {
                Issue.record("accepted \(data.count) bytes"); continue
            }
        }
        var broken = EAPMD5Peer(identity: [], password: "x")
        for data: [UInt8] in [[], [0], [16, 1, 2]] {
            guard case .failure = broken.process(EAPPacket(code: .request, identifier: 1, type: .md5, data: data)) else {
                Issue.record("answered \(data)"); continue
            }
        }
        #expect(!broken.isComplete)
    }

    /// Identities from the wire go into log lines with control bytes escaped.
    @Test func reasonsEscapeUnprintableIdentities() throws {
        var server = Self.server(identity: [0x41, 0x0A, 0x5C], password: nil), peer = Self.peer(identity: [0x41, 0x0A, 0x5C])
        #expect(try Self.converse(&server, &peer).serverOutcome == .failure(reason: "unknown EAP identity 'A\\x0A\\x5C'"))
    }
}
