#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TernDataPlane


/// Loading a setkey file from disk and applying its statements to a database configuration.
///
/// The file holds long-lived keys (manual SAs are never rekeyed), so it is guarded like
/// racoon guards psk.txt: a file with any `add` must not be readable or writable by group or
/// others; and any setkey file must be owned by ternd's user or root and not writable by
/// others, since whoever can write it decides what is encrypted.
public enum SetkeyFile {
    /// Files larger than this are refused before they are read into memory.
    public static let maximumSize = ConfigFileReader.maximumSize

    public static func load(path: String) throws(ConfigError) -> [SetkeyStatement] {
        let (bytes, mode, owner) = try ConfigFileReader.read(path, kind: "setkey file")
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

    static func octal(_ mode: UInt32) -> String { ConfigFileReader.octal(mode) }
}
