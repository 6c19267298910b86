import Testing
@testable import TernCrypto

/// MD4, DES and MS-CHAPv2 against their RFCs' and NBS's published answers.
@Suite struct LegacyCryptoTests {
    /// RFC 1320 §A.5, the whole test suite: empty input, one block, and inputs that cross blocks.
    @Test(arguments: [
        ("", "31d6cfe0d16ae931b73c59d7e0c089c0"),
        ("a", "bde52cb31de33e46245e05fbdbd6fb24"),
        ("abc", "a448017aaf21d8525fc10ae87aa6729d"),
        ("message digest", "d9130a8164549fe818874806e1c7014b"),
        ("abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "043f8582f241db351ce627e153e7f0e4"),
        ("12345678901234567890123456789012345678901234567890123456789012345678901234567890", "e33b4ddc9c38f2199c3e7b164fcc0536"),
    ])
    func md4(_ input: String, _ digest: String) {
        #expect(hexString(MD4.hash(Array(input.utf8))) == digest)
    }

    /// 55 and 56 bytes: the last length whose padding fits its block and the first that needs another.
    @Test func md4PaddingBoundary() {
        let at55 = MD4.hash([UInt8](repeating: 0x61, count: 55))
        let at56 = MD4.hash([UInt8](repeating: 0x61, count: 56))
        #expect(at55.count == 16 && at56.count == 16 && at55 != at56)
        #expect(MD4.hash([UInt8](repeating: 0x61, count: 64)) != MD4.hash([UInt8](repeating: 0x61, count: 63)))
    }

    /// The FIPS 46 worked example, the NBS SP 500-20 known answers, and all-ones.
    @Test(arguments: [
        ("133457799BBCDFF1", "0123456789ABCDEF", "85E813540F0AB405"),
        ("0000000000000000", "0000000000000000", "8CA64DE9C1B123A7"),
        ("FFFFFFFFFFFFFFFF", "FFFFFFFFFFFFFFFF", "7359B2163E4EDC58"),
        ("0E329232EA6D0D73", "8787878787878787", "0000000000000000"),
        ("0101010101010101", "95F8A5E5DD31D900", "8000000000000000"),
        ("0101010101010101", "0000000000000000", "8CA64DE9C1B123A7"),
    ])
    func desEncryptBlock(_ key: String, _ plaintext: String, _ ciphertext: String) {
        #expect(hexString(DES.encryptBlock(key8: hexBytes(key), block: hexBytes(plaintext))) == ciphertext.lowercased())
    }

    @Test func desTablesAreWellFormed() {
        for (index, box) in DES.sBoxes.enumerated() {
            for row in 0..<4 {
                #expect(Set(box[(row * 16)..<(row * 16 + 16)]) == Set(0...15), "S\(index + 1) row \(row) is not a permutation")
            }
        }
        #expect(Set(DES.initialPermutation) == Set(1...64))
        #expect(DES.finalPermutation[DES.initialPermutation[0] - 1] == 1)
        #expect(Set(DES.permutedChoice1).count == 56 && DES.permutedChoice1.allSatisfy { $0 % 8 != 0 }, "PC-1 keeps every bit but the parity bits")
        #expect(Set(DES.permutedChoice2).count == 48 && DES.rotations.reduce(0, +) == 28)
    }

    /// Seven key bits go to the top of each byte; the low bit makes the byte's parity odd.
    @Test func desKeyExpansionSpreadsSevenBitsPerByte() {
        #expect(hexString(DES.key8(fromKey7: [0, 0, 0, 0, 0, 0, 0])) == "0101010101010101")
        #expect(hexString(DES.key8(fromKey7: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])) == "fefefefefefefefe")
        #expect(hexString(DES.key8(fromKey7: hexBytes("80000000000001"))) == "8001010101010102")
        for byte in DES.key8(fromKey7: hexBytes("0123456789ABCD")) { #expect(byte.nonzeroBitCount % 2 == 1) }
    }

    // RFC 2759 §9.2.
    static let userName = Array("User".utf8)
    static let password = "clientPass"
    static let authenticatorChallenge = hexBytes("5B5D7C7D7B3F2F3E3C2C602132262628")
    static let peerChallenge = hexBytes("21402324255E262A28295F2B3A337C7E")
    static let ntResponse = hexBytes("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
    static let passwordHash = hexBytes("44EBBA8D5312B8D611474411F56989AE")

    @Test func rfc2759Vectors() {
        #expect(MSCHAPv2.ntPasswordHash(Self.password) == Self.passwordHash)
        #expect(hexString(MSCHAPv2.passwordHashHash(Self.passwordHash)) == "41c00c584bd2d91c4017a2a12fa59f3f")
        let challenge = MSCHAPv2.challengeHash(
            peerChallenge: Self.peerChallenge, authenticatorChallenge: Self.authenticatorChallenge, userName: Self.userName)
        #expect(hexString(challenge) == "d02e4386bce91226")
        #expect(MSCHAPv2.challengeResponse(challenge: challenge, passwordHash: Self.passwordHash) == Self.ntResponse)
        #expect(MSCHAPv2.ntResponse(
            authenticatorChallenge: Self.authenticatorChallenge, peerChallenge: Self.peerChallenge,
            userName: Self.userName, passwordHash: Self.passwordHash) == Self.ntResponse)
        #expect(MSCHAPv2.authenticatorResponse(
            passwordHash: Self.passwordHash, ntResponse: Self.ntResponse, peerChallenge: Self.peerChallenge,
            authenticatorChallenge: Self.authenticatorChallenge, userName: Self.userName)
            == "S=407A5589115FD0D6209F510FE9C04566932CDA56")
    }

    @Test func checkAuthenticatorResponseAcceptsOnlyTheRightDigest() {
        func check(_ text: String, userName: [UInt8] = Self.userName) -> Bool {
            MSCHAPv2.checkAuthenticatorResponse(
                Array(text.utf8), passwordHash: Self.passwordHash, ntResponse: Self.ntResponse,
                peerChallenge: Self.peerChallenge, authenticatorChallenge: Self.authenticatorChallenge, userName: userName)
        }
        #expect(check("S=407A5589115FD0D6209F510FE9C04566932CDA56"))
        #expect(check("S=407a5589115fd0d6209f510fe9c04566932cda56"), "hex case does not matter")
        #expect(!check("S=407A5589115FD0D6209F510FE9C04566932CDA57"))
        #expect(!check("S=407A5589115FD0D6209F510FE9C04566932CDA56", userName: Array("user".utf8)))
        #expect(!check("S=407A5589115FD0D6209F510FE9C04566932CDA5"))
        #expect(!check("S=407A5589115FD0D6209F510FE9C04566932CDA5G"))
        #expect(!check("T=407A5589115FD0D6209F510FE9C04566932CDA56"))
        #expect(!check(""))
    }

    /// A `DOMAIN\` prefix is not hashed (RFC 2759 §8.2): only the last backslash counts.
    @Test func userNameDropsTheDomain() {
        #expect(MSCHAPv2.userName(fromName: Array("CORP\\User".utf8)) == Self.userName)
        #expect(MSCHAPv2.userName(fromName: Array("a\\b\\User".utf8)) == Self.userName)
        #expect(MSCHAPv2.userName(fromName: Self.userName) == Self.userName)
        #expect(MSCHAPv2.userName(fromName: Array("CORP\\".utf8)).isEmpty)
    }

    /// RFC 3079 §3.5.3: the master key, and the 128-bit send start key (the server's, which is
    /// the client's receive key).
    @Test func rfc3079Keys() {
        let master = MSCHAPv2.masterKey(passwordHashHash: MSCHAPv2.passwordHashHash(Self.passwordHash), ntResponse: Self.ntResponse)
        #expect(hexString(master) == "fdece3717a8c838cb388e527ae3cdd31")
        let serverSend = MSCHAPv2.asymmetricStartKey(masterKey: master, length: 16, isSend: true, isServer: true)
        #expect(hexString(serverSend) == "8b7cdc149b993a1ba118cb153f56dccb")
        #expect(MSCHAPv2.asymmetricStartKey(masterKey: master, length: 16, isSend: false, isServer: false) == serverSend)
        let clientSend = MSCHAPv2.asymmetricStartKey(masterKey: master, length: 16, isSend: true, isServer: false)
        #expect(hexString(clientSend) == "d5f0e9521e3ea9589645e86051c82226")
        #expect(MSCHAPv2.asymmetricStartKey(masterKey: master, length: 16, isSend: false, isServer: true) == clientSend)
    }

    /// The MSK strongSwan derives for the RFC 2759 exchange: server receive || server send || 32 zeros.
    @Test func mskIsServerReceiveThenServerSendThenZeros() {
        let msk = MSCHAPv2.msk(passwordHash: Self.passwordHash, ntResponse: Self.ntResponse)
        #expect(msk.count == 64)
        #expect(hexString(msk.prefix(32)) == "d5f0e9521e3ea9589645e86051c822268b7cdc149b993a1ba118cb153f56dccb")
        #expect(msk.suffix(32).allSatisfy { $0 == 0 })
    }

    /// Non-ASCII passwords hash as UTF-16LE code units (a character outside the BMP is two of them).
    @Test func ntPasswordHashIsOverUTF16LittleEndian() {
        #expect(MSCHAPv2.ntPasswordHash("é") == MD4.hash([0xE9, 0x00]))
        #expect(MSCHAPv2.ntPasswordHash("😀") == MD4.hash([0x3D, 0xD8, 0x00, 0xDE]))
        #expect(MSCHAPv2.ntPasswordHash("") == MD4.hash([]))
    }
}
