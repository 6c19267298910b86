#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TernIKE

/// Loads swanctl.conf files and converts the syntax tree to the typed model.
///
/// Files are guarded as racoon guards psk.txt and as SetkeyFile guards keys: a file that holds
/// a secret (`secrets { x { secret = … } }`) must not be readable or writable by group or
/// others; every file must be owned by ternd's user or root and not writable by group or others,
/// since whoever can write it decides what is encrypted and with which credentials.
public enum SwanctlLoader {
    /// At most this many files are read through includes.
    public static let maximumFiles = 1000

    /// Loads a swanctl.conf, resolving `include` globs relative to the including file (sorted;
    /// a glob matching nothing is fine, a missing plain file is an error), checks the files'
    /// ownership and permissions, and converts the result.
    public static func load(path: String) throws(ConfigError) -> SwanctlConfiguration {
        var files: [String: (mode: UInt32, owner: UInt32)] = [:]
        let (bytes, mode, owner) = try ConfigFileReader.read(path, kind: "swanctl.conf")
        files[path] = (mode, owner)

        let resolver: SwanctlParser.IncludeResolver = { pattern, at throws(ConfigError) in
            var out: [(text: String, file: String)] = []
            for file in try expand(pattern, relativeTo: at) {
                guard files.count < maximumFiles else {
                    throw ConfigError(location: at, message: "more than \(maximumFiles) files included",
                                      hint: "narrow the include pattern")
                }
                let read: ([UInt8], UInt32, UInt32)
                do throws(ConfigError) { read = try ConfigFileReader.read(file, kind: "swanctl.conf") } catch {
                    throw ConfigError(location: at, message: error.message, hint: error.hint)
                }
                files[file] = (read.1, read.2)
                out.append((String(decoding: read.0, as: UTF8.self), file))
            }
            return out
        }
        let (root, definitions) = try SwanctlParser.parseRecording(text: String(decoding: bytes, as: UTF8.self),
                                                                   file: path, include: resolver)

        // Secrets first: their exposure is what matters most and what to fix first. Any
        // `secret`/`pin` counts, wherever it is: a template under another section can hold one.
        for d in definitions where (d.keyValue.key == "secret" || d.keyValue.key == "pin") && !d.keyValue.value.isEmpty {
            let file = d.keyValue.location.file
            guard let info = files[file], info.mode & 0o077 != 0 else { continue }
            throw ConfigFileReader.exposureError(file: file, mode: info.mode, holding: "a secret", at: d.keyValue.location)
        }
        let euid = geteuid()
        for (file, info) in files.sorted(by: { $0.key < $1.key }) {
            let at = SourceLocation(file: file, line: 1, column: 1)
            if info.owner != euid && info.owner != 0 {
                throw ConfigError(location: at, message: "\(file) is owned by uid \(info.owner), not by root or ternd's user (uid \(euid))",
                                  hint: "run `chown root \(file)`: whoever owns the file decides what ternd encrypts")
            }
            if info.mode & 0o022 != 0 {
                throw ConfigError(location: at, message: "\(file) is writable by group or others (mode \(ConfigFileReader.octal(info.mode)))",
                                  hint: "run `chmod go-w \(file)`: whoever can write it decides what ternd encrypts")
            }
        }
        return try configuration(from: root)
    }

    /// The syntax tree of a swanctl.conf with its includes resolved, without the ownership and
    /// permission checks `load(path:)` makes for ternd: what `tern load-all` reads and sends to
    /// a daemon over VICI, as swanctl does (the daemon then judges the content).
    public static func tree(path: String) throws(ConfigError) -> SwanctlSection {
        var count = 1
        let (bytes, _, _) = try ConfigFileReader.read(path, kind: "swanctl.conf")
        let resolver: SwanctlParser.IncludeResolver = { pattern, at throws(ConfigError) in
            var out: [(text: String, file: String)] = []
            for file in try expand(pattern, relativeTo: at) {
                count += 1
                guard count <= maximumFiles else {
                    throw ConfigError(location: at, message: "more than \(maximumFiles) files included", hint: "narrow the include pattern")
                }
                let read: ([UInt8], UInt32, UInt32)
                do throws(ConfigError) { read = try ConfigFileReader.read(file, kind: "swanctl.conf") } catch {
                    throw ConfigError(location: at, message: error.message, hint: error.hint)
                }
                out.append((String(decoding: read.0, as: UTF8.self), file))
            }
            return out
        }
        return try SwanctlParser.parse(text: String(decoding: bytes, as: UTF8.self), file: path, include: resolver)
    }

    /// The files an include pattern names: relative patterns are taken from the including
    /// file's directory; glob patterns may match nothing; a plain name must exist.
    static func expand(_ pattern: String, relativeTo at: SourceLocation) throws(ConfigError) -> [String] {
        var full = pattern
        if !pattern.hasPrefix("/") {
            let dir = at.file.lastIndex(of: "/").map { String(at.file[..<$0]) } ?? "."
            full = (dir.isEmpty ? "" : dir) + "/" + pattern
        }
        let isGlob = pattern.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" })
        var g = glob_t()
        defer { globfree(&g) }
        let rc = glob(full, 0, nil, &g)
        if rc == GLOB_NOMATCH {
            if isGlob { return [] }
            throw ConfigError(location: at, message: "included file \(full) does not exist",
                              hint: "check the path (relative paths start from this file's directory), or use a glob such as conf.d/*.conf, which may match nothing")
        }
        guard rc == 0 else {
            throw ConfigError(location: at, message: "cannot expand include pattern \(full) (glob error \(rc))",
                              hint: "check that the directories exist and are readable")
        }
        var out: [String] = []
        for i in 0..<Int(g.gl_pathc) {
            guard let p = g.gl_pathv[i] else { continue }
            let path = String(cString: p)
            // Canonical names make include cycles detectable however the path is spelled.
            if let real = realpath(path, nil) {
                out.append(String(cString: real))
                free(real)
            } else {
                out.append(path)
            }
        }
        return out
    }

    /// The typed conversion of a whole tree (also fed from VICI messages).
    public static func configuration(from root: SwanctlSection) throws(ConfigError) -> SwanctlConfiguration {
        var config = SwanctlConfiguration()
        var credentials = SwanctlCredentialConverter()
        var referenced: Set<String> = []
        collectReferences(root, into: &referenced)
        for kv in root.keyValues where !kv.value.isEmpty {
            config.warnings.append(ConfigWarning(location: kv.location, message: "top-level key `\(kv.key)` is not read by swanctl; ignored"))
        }
        for section in root.subsections {
            switch section.name {
            case "connections":
                for kv in section.keyValues where !kv.value.isEmpty {
                    config.warnings.append(ConfigWarning(location: kv.location,
                                                         message: "`\(kv.key)` directly inside `connections` is ignored (connections are sections)"))
                }
                for conn in section.subsections {
                    let c = try connection(name: conn.name, section: conn)
                    config.connections.append(c.policy)
                    config.sources[conn.name] = c.source
                    config.warnings += c.warnings
                }
            case "secrets":
                config.secrets += try credentials.secrets(section)
            case "pools":
                config.pools += try credentials.pools(section)
            case "authorities":
                config.authorities += section.subsections
            default:
                if !referenced.contains(section.name) {
                    config.warnings.append(ConfigWarning(location: section.location,
                                                         message: "section `\(section.name)` is not read by swanctl (it reads connections, secrets, pools and authorities); ignored"))
                }
            }
        }
        config.warnings += credentials.warnings
        return config
    }

    /// One `connections.<name>` section; also the entry point for VICI `load-conn`.
    public static func connection(name: String, section: SwanctlSection) throws(ConfigError)
        -> (policy: ConnectionPolicy, source: SwanctlSource, warnings: [ConfigWarning]) {
        var converter = SwanctlConnectionConverter()
        let (c, source) = try converter.connection(name: name, section: section)
        return (c, source, converter.warnings)
    }

    /// First components of every `name : a.b` reference (templates live in such sections).
    private static func collectReferences(_ s: SwanctlSection, into out: inout Set<String>) {
        for r in s.references {
            out.insert(String(r.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)[0]))
        }
        for sub in s.subsections { collectReferences(sub, into: &out) }
    }
}
