import Testing
import TernConfig
import TernDataPlane
import TernCrypto
import TernWire

/// Shared helpers: parse a snippet, take its single command, or capture the error it raises.
let testFile = "test.setkey"

func parse(_ text: String) throws(ConfigError) -> [SetkeyStatement] {
    try SetkeyParser.parse(text, file: testFile)
}

/// The one command of a one-statement snippet (records an issue otherwise).
func command(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> SetkeyCommand? {
    do {
        let s = try parse(text)
        #expect(s.count == 1, "expected one statement", sourceLocation: sourceLocation)
        return s.first?.command
    } catch {
        Issue.record("unexpected error: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

func sa(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> SAConfig? {
    guard case .add(let c)? = command(text, sourceLocation: sourceLocation) else {
        Issue.record("not an add", sourceLocation: sourceLocation)
        return nil
    }
    return c
}

func policy(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> PolicyConfig? {
    guard case .spdAdd(let p)? = command(text, sourceLocation: sourceLocation) else {
        Issue.record("not an spdadd", sourceLocation: sourceLocation)
        return nil
    }
    return p
}

/// The error a snippet raises; records an issue if it parses.
func parseError(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        let s = try parse(text)
        Issue.record("expected an error, parsed \(s.count) statements", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// `0x` followed by `n` bytes of hex.
func hexKey(_ n: Int, byte: UInt8 = 0xab) -> String {
    "0x" + String(repeating: String(byte, radix: 16), count: n)
}

func ip(_ s: String) -> IPAddress { IPAddress(s)! }
func prefix(_ s: String) -> IPPrefix { IPPrefix(s)! }

/// Directory of this test file, to reach the fixtures and the repository's examples.
func testsDirectory(_ file: String = #filePath) -> String {
    String(file[..<file.lastIndex(of: "/")!])
}

func repositoryRoot() -> String {
    let tests = testsDirectory()                       // …/Tests/TernConfigTests
    let up = tests[..<tests.lastIndex(of: "/")!]       // …/Tests
    return String(up[..<up.lastIndex(of: "/")!])
}

#if canImport(Glibc)
import Glibc
#endif

/// A whole file as UTF-8 text, or nil.
func readText(_ path: String) -> String? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n == 0 { break }
        bytes.append(contentsOf: buffer[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Names in a directory, or nil.
func listDirectory(_ path: String) -> [String]? {
    guard let d = opendir(path) else { return nil }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}
