import Crypto

// MS-CHAPv2 (RFC 2759 §8) and its MPPE keys (RFC 3079 §3), as EAP-MSCHAPv2 uses them. Names
// follow the RFCs' pseudocode so each function can be checked against its section.

/// MS-CHAPv2 authentication and key derivation (RFC 2759, RFC 3079).
public enum MSCHAPv2 {
    /// The user name MS-CHAPv2 hashes (RFC 2759 §8.2): the Name without a `DOMAIN\` prefix.
    public static func userName(fromName name: [UInt8]) -> [UInt8] {
        guard let backslash = name.lastIndex(of: UInt8(ascii: "\\")) else { return name }
        return Array(name[(backslash + 1)...])
    }

    /// NtPasswordHash (§8.3): MD4 over the password in UTF-16 little-endian.
    public static func ntPasswordHash(_ password: String) -> [UInt8] {
        MD4.hash(password.utf16.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] })
    }

    /// HashNtPasswordHash (§8.4): MD4 of the 16-byte password hash.
    public static func passwordHashHash(_ passwordHash: [UInt8]) -> [UInt8] {
        MD4.hash(passwordHash)
    }

    /// ChallengeHash (§8.2): the first 8 bytes of SHA-1(PeerChallenge || AuthenticatorChallenge || UserName).
    /// `userName` excludes any domain (see `userName(fromName:)`).
    public static func challengeHash(peerChallenge: [UInt8], authenticatorChallenge: [UInt8], userName: [UInt8]) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: peerChallenge + authenticatorChallenge + userName).prefix(8))
    }

    /// ChallengeResponse (§8.5): the 8-byte challenge DES-encrypted under each 7-byte third of
    /// the password hash zero-padded to 21 bytes; 24 bytes.
    public static func challengeResponse(challenge: [UInt8], passwordHash: [UInt8]) -> [UInt8] {
        precondition(challenge.count == 8 && passwordHash.count == 16, "ChallengeResponse takes an 8-byte challenge and a 16-byte hash")
        let padded = passwordHash + [UInt8](repeating: 0, count: 5)
        return stride(from: 0, to: 21, by: 7).flatMap { start in
            DES.encryptBlock(key8: DES.key8(fromKey7: Array(padded[start..<(start + 7)])), block: challenge)
        }
    }

    /// GenerateNTResponse (§8.1): the 24-byte NT-Response the peer sends and the server recomputes.
    public static func ntResponse(
        authenticatorChallenge: [UInt8], peerChallenge: [UInt8], userName: [UInt8], passwordHash: [UInt8]
    ) -> [UInt8] {
        let challenge = challengeHash(peerChallenge: peerChallenge, authenticatorChallenge: authenticatorChallenge, userName: userName)
        return challengeResponse(challenge: challenge, passwordHash: passwordHash)
    }

    /// GenerateAuthenticatorResponse (§8.7): the 20-byte digest that proves the server knows the
    /// password hash too.
    public static func authenticatorResponseDigest(
        passwordHash: [UInt8], ntResponse: [UInt8], peerChallenge: [UInt8], authenticatorChallenge: [UInt8], userName: [UInt8]
    ) -> [UInt8] {
        let first = Insecure.SHA1.hash(data: passwordHashHash(passwordHash) + ntResponse + serverSigningMagic)
        let challenge = challengeHash(peerChallenge: peerChallenge, authenticatorChallenge: authenticatorChallenge, userName: userName)
        return Array(Insecure.SHA1.hash(data: Array(first) + challenge + iterationPadMagic))
    }

    /// The authenticator response as it travels: "S=" and 40 uppercase hex digits.
    public static func authenticatorResponse(
        passwordHash: [UInt8], ntResponse: [UInt8], peerChallenge: [UInt8], authenticatorChallenge: [UInt8], userName: [UInt8]
    ) -> String {
        let digest = authenticatorResponseDigest(
            passwordHash: passwordHash, ntResponse: ntResponse, peerChallenge: peerChallenge,
            authenticatorChallenge: authenticatorChallenge, userName: userName)
        return "S=" + digest.map { byte in
            let digits = Array("0123456789ABCDEF".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
        }.joined()
    }

    /// CheckAuthenticatorResponse (§8.8): whether `received` ("S=" and 40 hex digits, either
    /// case) is the response this password hash gives. The digests are compared in constant time.
    public static func checkAuthenticatorResponse(
        _ received: [UInt8], passwordHash: [UInt8], ntResponse: [UInt8], peerChallenge: [UInt8],
        authenticatorChallenge: [UInt8], userName: [UInt8]
    ) -> Bool {
        guard received.count == 42, received[0] == UInt8(ascii: "S"), received[1] == UInt8(ascii: "="),
              let receivedDigest = bytes(fromHex: received[2...]) else { return false }
        let expected = authenticatorResponseDigest(
            passwordHash: passwordHash, ntResponse: ntResponse, peerChallenge: peerChallenge,
            authenticatorChallenge: authenticatorChallenge, userName: userName)
        return receivedDigest.withUnsafeBytes { r in
            expected.withUnsafeBytes { e in constantTimeEqual(r.baseAddress!, e.baseAddress!, count: 20) }
        }
    }

    /// GetMasterKey (RFC 3079 §3.4): 16 bytes both ends derive from the password hash hash and
    /// the NT-Response.
    public static func masterKey(passwordHashHash: [UInt8], ntResponse: [UInt8]) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: passwordHashHash + ntResponse + masterKeyMagic).prefix(16))
    }

    /// GetAsymmetricStartKey (RFC 3079 §3.4): the start key for one direction. The client's send
    /// key is the server's receive key, so (isSend, isServer) = (true, false) and (false, true)
    /// give the same bytes.
    public static func asymmetricStartKey(masterKey: [UInt8], length: Int, isSend: Bool, isServer: Bool) -> [UInt8] {
        precondition(length <= 20, "a start key is at most one SHA-1 digest")
        let clientSendsWithIt = isSend != isServer
        let magic = clientSendsWithIt ? clientSendMagic : clientReceiveMagic
        let pad1 = [UInt8](repeating: 0x00, count: 40), pad2 = [UInt8](repeating: 0xF2, count: 40)
        return Array(Insecure.SHA1.hash(data: masterKey + pad1 + magic + pad2).prefix(length))
    }

    /// The 64-byte EAP-MSCHAPv2 MSK: MS-MPPE-Recv-Key || MS-MPPE-Send-Key as the server holds
    /// them (the client's send key first, then its receive key; RFC 2548 §2.4, RFC 3079 §3.4),
    /// then 32 zero bytes, as strongSwan, hostapd and Windows NPS build it. Both ends get the same
    /// bytes.
    public static func msk(passwordHash: [UInt8], ntResponse: [UInt8]) -> [UInt8] {
        let master = masterKey(passwordHashHash: passwordHashHash(passwordHash), ntResponse: ntResponse)
        let serverReceive = asymmetricStartKey(masterKey: master, length: 16, isSend: false, isServer: true)
        let serverSend = asymmetricStartKey(masterKey: master, length: 16, isSend: true, isServer: true)
        return serverReceive + serverSend + [UInt8](repeating: 0, count: 32)
    }

    private static func bytes(fromHex hex: ArraySlice<UInt8>) -> [UInt8]? {
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        guard hex.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            guard let high = nibble(hex[index]), let low = nibble(hex[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static let serverSigningMagic = Array("Magic server to client signing constant".utf8)
    private static let iterationPadMagic = Array("Pad to make it do more than one iteration".utf8)
    private static let masterKeyMagic = Array("This is the MPPE Master Key".utf8)
    private static let clientSendMagic = Array(
        "On the client side, this is the send key; on the server side, it is the receive key.".utf8)
    private static let clientReceiveMagic = Array(
        "On the client side, this is the receive key; on the server side, it is the send key.".utf8)
}
