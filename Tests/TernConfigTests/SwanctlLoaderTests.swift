#if canImport(Glibc)
import Glibc
#endif
import Testing
import TernConfig

/// SwanctlLoader on real files: includes with globs, cycles, and the permission checks.
@Suite(.serialized) struct SwanctlLoaderTests {
    /// A fresh temporary directory; removed by `cleanUp`.
    func temporaryDirectory() throws -> String {
        var template = Array("/tmp/tern-swanctl-test-XXXXXX".utf8CString)
        let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        try #require(p != nil)
        return String(cString: p!)
    }

    func write(_ text: String, to path: String, mode: mode_t = 0o600) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0, "cannot create \(path)")
        let bytes = Array(text.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        try #require(n == bytes.count)
        try #require(fchmod(fd, mode) == 0)
        close(fd)
    }

    func cleanUp(_ dir: String) {
        for sub in ["conf.d", "secrets.d", ""] {
            let d = sub.isEmpty ? dir : dir + "/" + sub
            for name in listDirectory(d) ?? [] where name != "conf.d" && name != "secrets.d" { unlink(d + "/" + name) }
            if !sub.isEmpty { rmdir(d) }
        }
        rmdir(dir)
    }

    let secretFile = "secrets {\n  ike-x {\n    id = a\n    secret = 0x0102\n  }\n}\n"

    @Test func includesGlobsRelativeToTheIncludingFileInOrder() throws {
        let dir = try temporaryDirectory()
        defer { cleanUp(dir) }
        mkdir(dir + "/conf.d", 0o700)
        try write("connections {\n  include conf.d/*.conf\n}\ninclude secrets.d/*.conf\ninclude conf.d/none-*.conf\n", to: dir + "/swanctl.conf")
        try write("b { version = 2 }\n", to: dir + "/conf.d/20-b.conf")
        try write("a { version = 0 }\nb { remote_addrs = 192.0.2.1 }\n", to: dir + "/conf.d/10-a.conf")
        let c = try SwanctlLoader.load(path: dir + "/swanctl.conf")
        #expect(c.connections.map(\.name) == ["a", "b"], "10-a.conf is read before 20-b.conf")
        #expect(c.connections.last?.version == 2)
        #expect(c.connections.last?.remoteAddresses == [.address(.init("192.0.2.1")!)])
        #expect(c.sources["a"]?.location.file.hasSuffix("/conf.d/10-a.conf") == true)
    }

    @Test func missingPlainIncludeIsAnError() throws {
        let dir = try temporaryDirectory()
        defer { cleanUp(dir) }
        try write("# top\ninclude missing.conf\n", to: dir + "/swanctl.conf")
        do {
            _ = try SwanctlLoader.load(path: dir + "/swanctl.conf")
            Issue.record("a missing include was accepted")
        } catch {
            #expect(error.location == TernConfig.SourceLocation(file: dir + "/swanctl.conf", line: 2, column: 9))
            #expect(error.message.contains(dir + "/missing.conf"))
        }
    }

    @Test func includeCycleThroughFiles() throws {
        let dir = try temporaryDirectory()
        defer { cleanUp(dir) }
        try write("include b.conf\n", to: dir + "/a.conf")
        try write("x = 1\ninclude a.conf\n", to: dir + "/b.conf")
        do {
            _ = try SwanctlLoader.load(path: dir + "/a.conf")
            Issue.record("an include cycle was accepted")
        } catch {
            #expect(error.message.contains("include cycle"))
            #expect(error.location.line == 2 && error.location.column == 9)
        }
    }

    @Test func secretsReadableByOthersAreRefused() throws {
        let dir = try temporaryDirectory()
        defer { cleanUp(dir) }
        let path = dir + "/swanctl.conf"
        try write(secretFile, to: path, mode: 0o644)
        do {
            _ = try SwanctlLoader.load(path: path)
            Issue.record("a world-readable secret was loaded")
        } catch {
            #expect(error.location == TernConfig.SourceLocation(file: path, line: 4, column: 5), "points at the secret")
            #expect(error.message.contains(path) && error.message.contains("0644"))
            #expect(error.hint?.contains("chmod 600 \(path)") == true)
            #expect(!error.description.contains("0102"))
        }
        chmod(path, 0o600)
        let c = try SwanctlLoader.load(path: path)
        #expect(c.secrets.first?.secret?.bytes == [1, 2])
    }

    @Test func secretInAnIncludedFileNamesThatFile() throws {
        let dir = try temporaryDirectory()
        defer { cleanUp(dir) }
        mkdir(dir + "/secrets.d", 0o700)
        try write("connections { }\nsecrets {\n  include secrets.d/*.conf\n}\n", to: dir + "/swanctl.conf", mode: 0o644)
        let inner = dir + "/secrets.d/site.conf"
        try write("ike-site { secret = \"psk\" }\n", to: inner, mode: 0o640)
        do {
            _ = try SwanctlLoader.load(path: dir + "/swanctl.conf")
            Issue.record("a group-readable secret was loaded")
        } catch {
            #expect(error.location.file == inner)
            #expect(error.hint?.contains("chmod 600 \(inner)") == true)
        }
        chmod(inner, 0o600)
        #expect(try SwanctlLoader.load(path: dir + "/swanctl.conf").secrets.count == 1,
                "a world-readable file without secrets is fine")
    }

    @Test func secretInheritedFromATemplateStillCounts() throws {
        let dir = try temporaryDirectory()
        defer { cleanUp(dir) }
        let path = dir + "/swanctl.conf"
        try write("psk-template {\n  secret = shared\n}\nsecrets {\n  ike-a : psk-template { id = a }\n}\n", to: path, mode: 0o604)
        do {
            _ = try SwanctlLoader.load(path: path)
            Issue.record("a world-readable secret in a template was loaded")
        } catch {
            #expect(error.location == TernConfig.SourceLocation(file: path, line: 2, column: 3))
        }
        chmod(path, 0o600)
        let c = try SwanctlLoader.load(path: path)
        #expect(c.secrets.first?.secret?.bytes == Array("shared".utf8) && c.secrets.first?.ids == ["a"])
        #expect(c.warnings.isEmpty, "a template section is not reported as unread")
    }

    @Test func fileWritableByOthersIsRefused() throws {
        let dir = try temporaryDirectory()
        defer { cleanUp(dir) }
        let path = dir + "/swanctl.conf"
        try write("connections { }\n", to: path, mode: 0o666)
        do {
            _ = try SwanctlLoader.load(path: path)
            Issue.record("a world-writable configuration was loaded")
        } catch {
            #expect(error.message.contains("writable"))
            #expect(error.hint?.contains("chmod go-w \(path)") == true)
        }
    }
}
