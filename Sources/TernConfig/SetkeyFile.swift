#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TernDataPlane

#if canImport(Glibc)
private let systemRead = Glibc.read
#elseif canImport(Darwin)
private let systemRead = Darwin.read
#endif

/// Loading a setkey file from disk and applying its statements to a database configuration.
///
/// The file holds long-lived keys (manual SAs are never rekeyed), so it is guarded like
/// racoon guards psk.txt: a file with any `add` must not be readable or writable by group or
/// others; and any setkey file must be owned by ternd's user or root and not writable by
/// others, since whoever can write it decides what is encrypted.
public enum SetkeyFile {
    /// Files larger than this are refused before they are read into memory.
    public static let maximumSize = 16 << 20

    public static func load(path: String) throws(ConfigError) -> [SetkeyStatement] {
        let (bytes, mode, owner) = try read(path)
        let text = String(decoding: bytes, as: UTF8.self)
        let fileStart = SourceLocation(file: path, line: 1, column: 1)

        // Key material first: that is the exposure that matters most and the one to fix first.
        let raw = try SetkeyLexer(file: path).statements(text)
        if mode & 0o077 != 0,
           let add = raw.lazy.compactMap({ $0.tokens.first }).first(where: { $0.kind == .word && $0.text == "add" }) {
            throw ConfigError(
                location: SourceLocation(file: path, line: add.line, column: add.column),
                message: "this file holds keys (`add`) but group or others may access it (mode \(octal(mode)))",
                hint: "run `chmod 600 \(path)`; ternd refuses keys others can read, as racoon refuses psk.txt")
        }
        let euid = geteuid()
        if owner != euid && owner != 0 {
            throw ConfigError(location: fileStart,
                              message: "\(path) is owned by uid \(owner), not by root or ternd's user (uid \(euid))",
                              hint: "run `chown root \(path)`: whoever owns the file decides what ternd encrypts")
        }
        if mode & 0o022 != 0 {
            throw ConfigError(location: fileStart,
                              message: "\(path) is writable by group or others (mode \(octal(mode)))",
                              hint: "run `chmod go-w \(path)`: whoever can write it decides what ternd encrypts")
        }
        return try SetkeyParser.parse(text, file: path)
    }

    /// Applies `statements` in order, as `setkey -f` would, to a copy of `db`; `db` changes only
    /// when every statement applies. `get`, `dump` and `spddump` print in setkey and do nothing here.
    public static func apply(_ statements: [SetkeyStatement], to db: inout SecurityDatabaseConfig) throws(ConfigError) {
        var work = db
        for s in statements {
            do throws(SecurityDatabaseConfig.EditError) {
                switch s.command {
                case .add(let sa): try work.addSA(sa)
                case .delete(let key): try work.deleteSA(key)
                case .deleteAll(let src, let dst, let proto): work.deleteAllSAs(source: src, destination: dst, proto: proto)
                case .flush(let proto): work.flushSAs(proto: proto)
                case .spdAdd(let policy): try work.addPolicy(policy)
                case .spdDelete(let selector): try work.deletePolicy(selector)
                case .spdFlush: work.flushPolicies()
                case .get, .dump, .spdDump: break
                }
            } catch {
                throw ConfigError(location: s.location, message: message(error), hint: hint(error))
            }
        }
        db = work
    }

    static func message(_ e: SecurityDatabaseConfig.EditError) -> String {
        switch e {
        case .duplicateSA(let k): "an SA with \(k) already exists"
        case .noSuchSA(let k): "there is no SA with \(k) to delete"
        case .duplicatePolicy: "a policy with the same selectors and direction already exists"
        case .noSuchPolicy: "there is no policy with these selectors and direction to delete"
        }
    }

    static func hint(_ e: SecurityDatabaseConfig.EditError) -> String {
        switch e {
        case .duplicateSA: "choose another SPI, or `delete` the earlier SA first (setkey refuses a second add too)"
        case .noSuchSA: "a delete must name the destination, protocol and SPI of an SA added earlier in the file"
        case .duplicatePolicy: "remove one of them, or `spddelete` the earlier one first"
        case .noSuchPolicy: "spddelete must repeat the spdadd's addresses, ports, upper-layer protocol and direction"
        }
    }

    static func octal(_ mode: UInt32) -> String {
        let s = String(mode & 0o7777, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    /// Reads a regular file through one descriptor (so the checks and the contents agree) and
    /// returns its bytes, permission bits and owner.
    static func read(_ path: String) throws(ConfigError) -> ([UInt8], UInt32, UInt32) {
        let at = SourceLocation(file: path, line: 1, column: 1)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            throw ConfigError(location: at, message: "cannot open \(path): \(String(cString: strerror(e)))",
                              hint: e == ENOENT ? "check the path" : (e == EACCES ? "run ternd as root, or as the file's owner" : nil))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ConfigError(location: at, message: "cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        let mode = UInt32(st.st_mode)
        guard mode & 0o170000 == 0o100000 else {
            throw ConfigError(location: at, message: "\(path) is not a regular file", hint: "pass the path of a setkey file")
        }
        guard Int(st.st_size) <= maximumSize else {
            throw ConfigError(location: at, message: "\(path) is larger than \(maximumSize >> 20) MiB",
                              hint: "is this really a setkey file?")
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(st.st_size))
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ConfigError(location: at, message: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            guard bytes.count <= maximumSize else {
                throw ConfigError(location: at, message: "\(path) is larger than \(maximumSize >> 20) MiB",
                                  hint: "is this really a setkey file?")
            }
        }
        return (bytes, mode & 0o7777, UInt32(st.st_uid))
    }
}
