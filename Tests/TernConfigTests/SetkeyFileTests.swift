#if canImport(Glibc)
import Glibc
#endif
import Testing
import TernConfig
import TernDataPlane
import TernCrypto
import TernWire

/// SetkeyFile: permission checks on load, and apply() against SecurityDatabaseConfig.
@Suite(.serialized) struct SetkeyFileTests {
    /// Writes `text` to a fresh temporary file with `mode` and returns its path.
    func temporaryFile(_ text: String, mode: mode_t) throws -> String {
        var template = Array("/tmp/tern-setkey-test-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        try #require(fd >= 0)
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        try #require(written == bytes.count)
        try #require(fchmod(fd, mode) == 0)
        close(fd)
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    let keyed = "flush;\nspdflush;\nadd 192.0.2.1 192.0.2.2 esp 0x1001 -m tunnel -E aes-gcm-16 \(hexKey(36));\n"
    let policiesOnly = "spdflush;\nspdadd 10.0.0.0/8 10.1.0.0/16 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;\n"

    @Test func privateKeyFileLoads() throws {
        let path = try temporaryFile(keyed, mode: 0o600)
        defer { unlink(path) }
        let s = try SetkeyFile.load(path: path)
        #expect(s.count == 3)
        #expect(s[2].location == SourceLocation(file: path, line: 3, column: 1))
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660, 0o606, 0o610] as [mode_t])
    func keyFileReadableByOthersIsRefused(_ mode: mode_t) throws {
        let path = try temporaryFile(keyed, mode: mode)
        defer { unlink(path) }
        do {
            _ = try SetkeyFile.load(path: path)
            Issue.record("a key file with mode \(String(mode, radix: 8)) was loaded")
        } catch {
            #expect(error.location == SourceLocation(file: path, line: 3, column: 1), "points at the first add")
            #expect(error.description.contains(path))
            #expect(error.description.contains("chmod 600 \(path)"))
            #expect(error.message.contains("0\(String(mode, radix: 8))"))
        }
    }

    @Test func policyOnlyFileMayBeWorldReadable() throws {
        let path = try temporaryFile(policiesOnly, mode: 0o644)
        defer { unlink(path) }
        #expect(try SetkeyFile.load(path: path).count == 2)
    }

    @Test func fileWritableByOthersIsRefused() throws {
        let path = try temporaryFile(policiesOnly, mode: 0o666)
        defer { unlink(path) }
        do {
            _ = try SetkeyFile.load(path: path)
            Issue.record("a world-writable file was loaded")
        } catch {
            #expect(error.hint?.contains("chmod go-w \(path)") == true)
        }
    }

    @Test func fileOwnedBySomeoneElseIsRefused() throws {
        guard geteuid() == 0 else { return }   // only root can give a file away
        let path = try temporaryFile(policiesOnly, mode: 0o600)
        defer { unlink(path) }
        try #require(chown(path, 4242, 4242) == 0)
        do {
            _ = try SetkeyFile.load(path: path)
            Issue.record("a file owned by uid 4242 was loaded")
        } catch {
            #expect(error.message.contains("uid 4242"))
            #expect(error.hint?.contains("chown") == true)
        }
    }

    @Test func missingFileAndDirectory() throws {
        do {
            _ = try SetkeyFile.load(path: "/nonexistent/tern.setkey")
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.location.file == "/nonexistent/tern.setkey")
            #expect(error.hint == "check the path")
        }
        do {
            _ = try SetkeyFile.load(path: "/tmp")
            Issue.record("loaded a directory")
        } catch {
            #expect(error.message.contains("not a regular file"))
        }
    }

    @Test func syntaxErrorInFileNamesThePath() throws {
        let path = try temporaryFile("flush;\nspdadd 1.2.3.4 5.6.7.8 any -P up none;\n", mode: 0o600)
        defer { unlink(path) }
        do {
            _ = try SetkeyFile.load(path: path)
            Issue.record("loaded a bad file")
        } catch {
            #expect(error.description.hasPrefix("\(path):2:31: error: "))
        }
    }

    // MARK: - apply

    @Test func applyBuildsTheDatabase() throws {
        var db = SecurityDatabaseConfig()
        let s = try parse("""
            add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16 \(hexKey(36));
            add 192.0.2.2 192.0.2.1 esp 0x1002 -E aes-gcm-16 \(hexKey(36));
            add 192.0.2.1 192.0.2.2 ah 0x1003 -A hmac-sha1 \(hexKey(20));
            get 192.0.2.1 192.0.2.2 esp 0x1001;
            dump;
            spddump;
            spdadd 10.0.0.0/8 10.1.0.0/16 any -P out ipsec esp/tunnel/192.0.2.1-192.0.2.2/require;
            spdadd 10.1.0.0/16 10.0.0.0/8 any -P in ipsec esp/tunnel/192.0.2.2-192.0.2.1/require;
            """)
        try SetkeyFile.apply(s, to: &db)
        #expect(db.associations.map(\.spi) == [0x1001, 0x1002, 0x1003])
        #expect(db.policies.count == 2)

        try SetkeyFile.apply(try parse("""
            delete 192.0.2.1 192.0.2.2 esp 0x1001;
            spddelete 10.1.0.0/16 10.0.0.0/8 any -P in;
            """), to: &db)
        #expect(db.associations.map(\.spi) == [0x1002, 0x1003])
        #expect(db.policies.map(\.direction) == [.outbound])

        try SetkeyFile.apply(try parse("flush ah;"), to: &db)
        #expect(db.associations.map(\.spi) == [0x1002])
        try SetkeyFile.apply(try parse("deleteall 192.0.2.2 192.0.2.1 esp;"), to: &db)
        #expect(db.associations.isEmpty)
        try SetkeyFile.apply(try parse("spdflush;"), to: &db)
        #expect(db.policies.isEmpty)
    }

    @Test func duplicateSAMapsToConfigErrorAtTheStatement() throws {
        var db = SecurityDatabaseConfig()
        let s = try parse("""
            flush;
            add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16 \(hexKey(36));
              add 198.51.100.9 192.0.2.2 esp 0x1001 -E aes-gcm-16 \(hexKey(20));
            """)
        do {
            try SetkeyFile.apply(s, to: &db)
            Issue.record("a duplicate SA was accepted")
        } catch {
            #expect(error.location == SourceLocation(file: testFile, line: 3, column: 3))
            #expect(error.message == "an SA with esp spi 0x1001 dst 192.0.2.2 already exists")
            #expect(error.hint?.contains("delete") == true)
        }
        #expect(db.associations.isEmpty, "a failed apply leaves the database as it was")
    }

    @Test func otherEditErrors() throws {
        func applyError(_ text: String) throws -> ConfigError? {
            var db = SecurityDatabaseConfig()
            do { try SetkeyFile.apply(try parse(text), to: &db); return nil } catch { return error }
        }
        #expect(try applyError("delete 192.0.2.1 192.0.2.2 esp 0x1001;")?.message.contains("no SA") == true)
        #expect(try applyError("spddelete 10.0.0.0/8 10.1.0.0/16 any -P out;")?.message.contains("no policy") == true)
        let dup = try applyError("spdadd 10.0.0.0/8 10.1.0.0/16 any -P out discard;\nspdadd 10.0.0.0/8 10.1.0.0/16 any -P out none;")
        #expect(dup?.location.line == 2)
        #expect(dup?.message.contains("same selectors") == true)
        // Same selectors in the other direction are a different policy.
        #expect(try applyError("spdadd 10.0.0.0/8 10.1.0.0/16 any -P out discard;\nspdadd 10.0.0.0/8 10.1.0.0/16 any -P in discard;") == nil)
    }
}
