import Testing
import TernConfig
import TernWire
#if canImport(Glibc)
import Glibc
#endif

private let pskFile = "psk.txt"

private func psk(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> RacoonPSKFile? {
    do { return try RacoonPSKFile.parse(text, file: pskFile) } catch {
        Issue.record("unexpected error: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

private func pskError(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        let f = try RacoonPSKFile.parse(text, file: pskFile)
        Issue.record("expected an error, got \(f.entries.count) entries", sourceLocation: sourceLocation)
        return nil
    } catch { return error }
}

/// racoon's psk.txt as localconf.c getpsk reads it (seeds 002–004 write it this way).
@Suite struct RacoonPSKFileTests {
    @Test func everyPeerFormRacoonAccepts() throws {
        let f = try #require(psk("""
        # IPv4, IPv6, FQDN and user@FQDN peers
        192.0.2.2\tsimple
        2001:db8::2   spaces inside the secret
        gw.example.com    fqdn-secret
        admin@example.com user-secret
        198.51.100.7 0x0123456789abcdef
        host-without-dots x

        """))
        #expect(f.entries.map(\.peer) == [.address(IPAddress("192.0.2.2")!), .address(IPAddress("2001:db8::2")!), .fqdn("gw.example.com"),
                                           .userFQDN("admin@example.com"), .address(IPAddress("198.51.100.7")!), .fqdn("host-without-dots")])
        #expect(f.secret(forAddress: IPAddress("192.0.2.2")!) == Array("simple".utf8))
        #expect(f.secret(forAddress: IPAddress("2001:db8::2")!) == Array("spaces inside the secret".utf8))
        #expect(f.secret(for: .fqdn("gw.example.com")) == Array("fqdn-secret".utf8))
        #expect(f.secret(for: .userFQDN("admin@example.com")) == Array("user-secret".utf8))
        #expect(f.secret(forAddress: IPAddress("198.51.100.7")!) == [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef])
        #expect(f.entries[0].location == SourceLocation(file: pskFile, line: 2, column: 1))
        #expect(f.warnings.isEmpty)
        #expect(f.secret(forAddress: IPAddress("192.0.2.99")!) == nil)
    }

    @Test func seedFilesAsWritten() throws {
        // Seed 003 (FreeBSD handbook): `W.X.Y.Z            secret` on gateway 1, `A.B.C.D  secret` on
        // gateway 2, with the placeholders as test addresses.
        let g1 = try #require(psk("198.51.100.1            secret\n"))
        let g2 = try #require(psk("203.0.113.1            secret\n"))
        #expect(g1.secret(forAddress: IPAddress("198.51.100.1")!) == Array("secret".utf8))
        #expect(g2.secret(forAddress: IPAddress("203.0.113.1")!) == Array("secret".utf8))
    }

    @Test func hashOnlyInTheFirstColumnIsAComment() throws {
        let f = try #require(psk("#192.0.2.1 commented out\n192.0.2.2 pass#word\n192.0.2.3 secret # not a comment\n"))
        #expect(f.entries.count == 2)
        #expect(f.entries[0].secret == Array("pass#word".utf8))
        #expect(f.entries[1].secret == Array("secret # not a comment".utf8))
        #expect(f.warnings.count == 1 && f.warnings[0].location.line == 3 && f.warnings[0].message.contains("inline comments"))
    }

    @Test func trailingBlanksBelongToTheSecretAndAreReported() throws {
        let f = try #require(psk("192.0.2.2 secret  \r\n"))
        #expect(f.entries[0].secret == Array("secret  ".utf8))   // the CR of a CRLF file is not part of it
        #expect(f.warnings.count == 1 && f.warnings[0].message.contains("ends in blanks"))
    }

    @Test func firstLineForAPeerWins() throws {
        let f = try #require(psk("192.0.2.2 first\n192.0.2.2 second\n"))
        #expect(f.secret(forAddress: IPAddress("192.0.2.2")!) == Array("first".utf8))
        #expect(f.warnings.count == 1 && f.warnings[0].location.line == 2 && f.warnings[0].message.contains("line 1"))
    }

    @Test func uppercaseHexPrefixAndDigits() throws {
        let f = try #require(psk("192.0.2.2 0XABCDEF\n"))
        #expect(f.entries[0].secret == [0xab, 0xcd, 0xef])
    }

    @Test func blankAndEmptyFiles() throws {
        #expect(psk("")?.entries.isEmpty == true)
        #expect(psk("\n\n   \n\t\n# only comments\n")?.entries.isEmpty == true)
    }

    // MARK: bad lines: file:line and a hint

    @Test func peerWithoutSecret() throws {
        let e = try #require(pskError("192.0.2.1 ok\n192.0.2.2\n"))
        #expect(e.location == SourceLocation(file: pskFile, line: 2, column: 1))
        #expect(e.message.contains("no secret") && e.hint != nil)
        let e2 = try #require(pskError("192.0.2.2   \n"))
        #expect(e2.message.contains("no secret"))
    }

    @Test func indentedLine() throws {
        let e = try #require(pskError("  192.0.2.2 secret\n"))
        #expect(e.location.line == 1 && e.message.contains("starts with a blank") && e.hint!.contains("first column"))
    }

    @Test func badHex() throws {
        let odd = try #require(pskError("192.0.2.2 0xabc\n"))
        #expect(odd.location == SourceLocation(file: pskFile, line: 1, column: 11) && odd.message.contains("hex"))
        #expect(!odd.description.contains("abc"))   // secrets are never quoted
        let notHex = try #require(pskError("192.0.2.2 0xzz\n"))
        #expect(notHex.message.contains("hex"))
        let empty = try #require(pskError("192.0.2.2 0x\n"))
        #expect(empty.message.contains("hex"))
    }

    @Test func subnetsWildcardsAndJunkArePeersRacoonNeverMatches() throws {
        #expect(try #require(pskError("192.0.2.0/24 secret\n")).message.contains("subnet"))
        #expect(try #require(pskError("* secret\n")).message.contains("wildcard"))
        #expect(try #require(pskError("%any secret\n")).message.contains("wildcard"))
        #expect(try #require(pskError("a@b@c secret\n")).message.contains("more than one @"))
        #expect(try #require(pskError("@example.com secret\n")).message.contains("user part"))
        #expect(try #require(pskError("bad..name secret\n")).message.contains("neither"))
        #expect(try #require(pskError("host!name secret\n")).location.line == 1)
    }

    @Test func bracketedIPv6() throws {
        let f = try #require(psk("[2001:db8::2] secret\n"))
        #expect(f.entries[0].peer == .address(IPAddress("2001:db8::2")!))
    }

    // MARK: the file's permissions: racoon's safefile() rule

    @Test func permissionsAsRacoonChecksThem() throws {
        let at = SourceLocation(file: "/etc/racoon/psk.txt", line: 1, column: 1)
        try RacoonPSKFile.checkPermissions(path: "/etc/racoon/psk.txt", mode: 0o600, owner: 0, euid: 0, at: at)
        try RacoonPSKFile.checkPermissions(path: "/etc/racoon/psk.txt", mode: 0o400, owner: 1000, euid: 1000, at: at)
        for mode: UInt32 in [0o640, 0o604, 0o644, 0o660, 0o610, 0o601] {
            do {
                try RacoonPSKFile.checkPermissions(path: "/etc/racoon/psk.txt", mode: mode, owner: 0, euid: 0, at: at)
                Issue.record("mode \(String(mode, radix: 8)) accepted")
            } catch {
                #expect(error.message.contains("group or others"))
                #expect(error.hint?.contains("chmod 600 /etc/racoon/psk.txt") == true)
            }
        }
        do {
            try RacoonPSKFile.checkPermissions(path: "/etc/racoon/psk.txt", mode: 0o600, owner: 1000, euid: 0, at: at)
            Issue.record("a file owned by another user was accepted")
        } catch {
            #expect(error.message.contains("owned by uid 1000") && error.hint?.contains("chown") == true)
        }
    }

    @Test func loadRefusesAReadableFileAndReadsAPrivateOne() throws {
        var template = Array("/tmp/tern-psk-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { unlink(path) }
        let text = "192.0.2.2 secret\n"
        _ = text.withCString { write(fd, $0, strlen($0)) }
        close(fd)
        chmod(path, 0o644)
        do {
            _ = try RacoonPSKFile.load(path: path)
            Issue.record("a world-readable psk.txt was accepted")
        } catch {
            #expect(error.description.contains("chmod 600 \(path)"))
            #expect(error.description.contains("0644"))
        }
        chmod(path, 0o600)
        let f = try RacoonPSKFile.load(path: path)
        #expect(f.secret(forAddress: IPAddress("192.0.2.2")!) == Array("secret".utf8))
        #expect(f.entries[0].location.file == path)
    }
}
