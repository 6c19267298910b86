#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TernWire

/// racoon's pre-shared key file (`path pre_shared_key "/etc/racoon/psk.txt"`): one peer per
/// line, the peer's address or identity, whitespace, then the secret.
///
///     # comment (only a `#` in the first column; elsewhere it belongs to the secret)
///     192.0.2.2           a secret phrase, spaces and all
///     2001:db8::2         0x0123456789abcdef
///     gw.example.com      another secret
///     admin@example.com   yet another
///
/// Read as racoon's localconf.c getpsk reads it: the peer is the text up to the first blank,
/// the secret is the rest of the line after the blanks that follow (trailing blanks included,
/// only the newline removed), `0x…` secrets are hex and decode to bytes, the first line naming
/// a peer wins. Where racoon silently skips a line that can never match (a peer without a
/// secret, an indented line, a subnet), Tern refuses it with file:line and a hint, since a
/// peer the operator meant to key would otherwise fail at negotiation time.
public struct RacoonPSKFile: Sendable, Hashable {
    /// Whom a line is for: racoon compares the peer's address (without port) or the identity
    /// in its ID payload with the first field, as a string.
    public enum Peer: Sendable, Hashable, CustomStringConvertible {
        case address(IPAddress)
        /// A host name: matched against an FQDN identity.
        case fqdn(String)
        /// `user@host`: matched against a USER_FQDN (RFC 822) identity.
        case userFQDN(String)

        public var description: String {
            switch self {
            case .address(let a): "\(a)"
            case .fqdn(let s), .userFQDN(let s): s
            }
        }
    }

    public struct Entry: Sendable, Hashable {
        public var peer: Peer
        public var secret: [UInt8]
        public var location: SourceLocation
    }

    public var entries: [Entry]
    /// Lines accepted but probably not what the operator meant (duplicates, trailing blanks,
    /// an inline `#`): racoon takes them as written, so do we, and say so.
    public var warnings: [ConfigWarning]

    /// The secret for a peer, by the first line naming it, as racoon's getpsk.
    public func secret(for peer: Peer) -> [UInt8]? {
        entries.first { $0.peer == peer }?.secret
    }

    /// The secret for a peer address.
    public func secret(forAddress address: IPAddress) -> [UInt8]? { secret(for: .address(address)) }

    // MARK: loading

    /// Reads and parses a psk.txt, refusing it as racoon's safefile() does unless it is owned by
    /// the daemon's user and neither group nor others have any access.
    public static func load(path: String) throws(ConfigError) -> RacoonPSKFile {
        let (bytes, mode, owner) = try ConfigFileReader.read(path, kind: "pre-shared key file (psk.txt)")
        let at = SourceLocation(file: path, line: 1, column: 1)
        try checkPermissions(path: path, mode: mode, owner: owner, euid: UInt32(geteuid()), at: at)
        return try parse(String(decoding: bytes, as: UTF8.self), file: path)
    }

    /// racoon's rule for its secret files (safefile() with secret = 1): owned by the daemon's
    /// user, not writable by others, no permission bits at all for group or others.
    public static func checkPermissions(path: String, mode: UInt32, owner: UInt32, euid: UInt32,
                                        at: SourceLocation) throws(ConfigError) {
        if owner != euid {
            throw ConfigError(location: at, message: "\(path) holds secrets but is owned by uid \(owner), not by ternd's user (uid \(euid))",
                              hint: "run `chown \(euid) \(path)`; racoon, and so ternd, reads psk.txt only when the daemon's user owns it")
        }
        if mode & 0o077 != 0 {
            throw ConfigFileReader.exposureError(file: path, mode: mode, holding: "pre-shared keys", at: at)
        }
    }

    /// Parses psk.txt text (no permission checks: `load(path:)` makes them).
    public static func parse(_ text: String, file: String) throws(ConfigError) -> RacoonPSKFile {
        var entries: [Entry] = []
        var warnings: [ConfigWarning] = []
        var seen: [Peer: Int] = [:]
        var lineNumber = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            // CRLF files: the \r is not part of the secret (racoon would keep it; nobody means it).
            let line = rawLine.last == "\r" ? rawLine.dropLast() : rawLine[...]
            let at = SourceLocation(file: file, line: lineNumber, column: 1)
            if line.first == "#" { continue }
            if line.allSatisfy(isBlank) { continue }
            if let first = line.first, isBlank(first) {
                throw ConfigError(location: at, message: "this line starts with a blank, so racoon would read an empty peer and never use it",
                                  hint: "start the peer address or identity in the first column; comments start with # in the first column")
            }
            guard let blank = line.firstIndex(where: isBlank) else {
                throw ConfigError(location: at, message: "`\(line)` names a peer but no secret",
                                  hint: "write the peer, blanks, then the secret: `192.0.2.2 mysecret` or `192.0.2.2 0x0123…`")
            }
            let peerText = String(line[..<blank])
            let secretStart = line[blank...].firstIndex { !isBlank($0) }
            guard let secretStart else {
                throw ConfigError(location: at, message: "`\(peerText)` names a peer but no secret",
                                  hint: "write the secret after the blanks: `\(peerText) mysecret`")
            }
            let secretColumn = line.distance(from: line.startIndex, to: secretStart) + 1
            let secretText = line[secretStart...]
            let peer = try parsePeer(peerText, at: at)

            var secret: [UInt8]
            if secretText.hasPrefix("0x") || secretText.hasPrefix("0X") {
                let digits = secretText.dropFirst(2)
                guard let bytes = hexBytes(digits) else {
                    throw ConfigError(location: SourceLocation(file: file, line: lineNumber, column: secretColumn),
                                      message: "the secret for \(peerText) starts with 0x but is not an even number of hex digits (\(secretText.count) characters, not shown)",
                                      hint: "write 0x followed by pairs of hex digits, or a passphrase that does not start with 0x")
                }
                secret = bytes
            } else {
                secret = Array(secretText.utf8)
                if let last = secretText.last, isBlank(last) {
                    warnings.append(ConfigWarning(location: at, message: "the secret for \(peerText) ends in blanks, which are part of it (racoon keeps them too)"))
                }
                if secretText.contains(" #") || secretText.contains("\t#") {
                    warnings.append(ConfigWarning(location: at, message: "the secret for \(peerText) contains ` #`: racoon has no inline comments, so the rest of the line is part of the secret"))
                }
            }
            if secret.isEmpty {
                throw ConfigError(location: at, message: "the secret for \(peerText) is empty", hint: "write at least one byte after 0x")
            }
            if let earlier = seen[peer] {
                warnings.append(ConfigWarning(location: at, message: "\(peerText) is already keyed on line \(earlier); racoon uses the first line, so this one is never used"))
                continue
            }
            seen[peer] = lineNumber
            entries.append(Entry(peer: peer, secret: secret, location: at))
        }
        return RacoonPSKFile(entries: entries, warnings: warnings)
    }

    static func parsePeer(_ text: String, at: SourceLocation) throws(ConfigError) -> Peer {
        // racoon prints IPv6 addresses without brackets and without a port; accept brackets anyway.
        var t = text[...]
        if t.hasPrefix("["), t.hasSuffix("]") { t = t.dropFirst().dropLast() }
        if let a = IPAddress(String(t)) { return .address(a) }
        if text.contains("/") {
            throw ConfigError(location: at, message: "`\(text)` is a subnet; racoon compares one address or identity per line and would never match it",
                              hint: "write one line per peer address, e.g. `192.0.2.2 secret`")
        }
        if text == "*" || text.hasPrefix("%") {
            throw ConfigError(location: at, message: "`\(text)` is not a peer: racoon has no wildcard in psk.txt",
                              hint: "write one line per peer address, FQDN or user@FQDN")
        }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count <= 2 else {
            throw ConfigError(location: at, message: "`\(text)` has more than one @", hint: "write an address, an FQDN or user@FQDN")
        }
        let host = parts.last!
        if parts.count == 2 {
            guard !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && !isBlank($0) }) else {
                throw ConfigError(location: at, message: "`\(text)` has an empty or invalid user part before @", hint: "write user@FQDN, e.g. admin@example.com")
            }
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        let validHost = !host.isEmpty && labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
        guard validHost else {
            throw ConfigError(location: at, message: "`\(text)` is neither an IPv4/IPv6 address nor an FQDN or user@FQDN",
                              hint: parts.count == 2 ? "write user@FQDN, e.g. admin@example.com" : "write an address (192.0.2.2, 2001:db8::2) or a host name (gw.example.com)")
        }
        return parts.count == 2 ? .userFQDN(text) : .fqdn(text)
    }

    static func isBlank(_ c: Character) -> Bool { c == " " || c == "\t" }

    static func hexBytes(_ digits: Substring) -> [UInt8]? {
        let chars = Array(digits.utf8)
        guard !chars.isEmpty, chars.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = value(chars[i]), let lo = value(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
