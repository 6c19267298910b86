import TernCrypto
import TernDataPlane
import TernWire

/// The KAME setkey(8) file format (as ipsec-tools' `setkey -f` reads it), for manual keying:
/// SAD commands (`add`, `get`, `delete`, `deleteall`, `flush`, `dump`) and SPD commands
/// (`spdadd`, `spddelete`, `spdflush`, `spddump`). docs/setkey.md lists what is accepted,
/// what is refused and why.
///
/// Contract: never traps on any input; the first problem is thrown as a `ConfigError` at the
/// offending token's line and column. Key bytes never appear in an error.
public enum SetkeyParser {
    public static func parse(_ text: String, file: String) throws(ConfigError) -> [SetkeyStatement] {
        let lexer = SetkeyLexer(file: file)
        let raw = try lexer.statements(text)
        let parser = SetkeyStatementParser(file: file)
        var out: [SetkeyStatement] = []
        out.reserveCapacity(raw.count)
        for s in raw {
            guard s.terminated else {
                // A statement cut off by the end of the file: report the first real problem in
                // its tokens if there is one (text pasted without its line breaks, a lost
                // address…), otherwise the missing `;`.
                do {
                    _ = try parser.parse(s)
                } catch where error.location != SourceLocation(file: file, line: s.endLine, column: s.endColumn) {
                    throw error
                } catch {}
                throw lexer.missingSemicolon(s)
            }
            if let statement = try parser.parse(s) { out.append(statement) }
        }
        return out
    }
}

/// A statement's tokens with a read position. `end` is the `;`, used when something is missing.
struct TokenCursor {
    let tokens: [SetkeyToken]
    var index = 0
    let endLine: Int
    let endColumn: Int

    init(_ s: SetkeyRawStatement) {
        tokens = s.tokens; endLine = s.endLine; endColumn = s.endColumn
    }

    var peek: SetkeyToken? { index < tokens.count ? tokens[index] : nil }
    var atEnd: Bool { index >= tokens.count }

    mutating func next() -> SetkeyToken? {
        guard index < tokens.count else { return nil }
        index += 1
        return tokens[index - 1]
    }
}

/// Parses one statement at a time. Split over several files by topic: SA commands here,
/// algorithms and keys in SetkeyAlgorithms.swift, addresses and selectors in
/// SetkeyAddresses.swift, the `-P` policy in SetkeyPolicy.swift.
struct SetkeyStatementParser {
    let file: String

    static let commands = ["add", "get", "delete", "deleteall", "flush", "dump",
                           "spdadd", "spddelete", "spdflush", "spddump"]

    func parse(_ s: SetkeyRawStatement) throws(ConfigError) -> SetkeyStatement? {
        var c = TokenCursor(s)
        guard let head = c.next() else { return nil }   // a lone `;` is harmless
        guard head.kind == .word else {
            throw error(head, "expected a command, found a quoted string", hint: commandHint)
        }
        let command: SetkeyCommand
        switch head.text {
        case "add": command = .add(try parseAdd(&c))
        case "get":
            let (_, dst, proto, spi) = try parseSAIdentity(&c, command: "get")
            command = .get(SAKey(destination: dst, proto: proto, spi: spi))
        case "delete":
            let (_, dst, proto, spi) = try parseSAIdentity(&c, command: "delete")
            command = .delete(SAKey(destination: dst, proto: proto, spi: spi))
        case "deleteall":
            let family = try parseAddressOptions(&c)
            let (src, _) = try parseHost(&c, what: "source address", family: family)
            let (dst, dstToken) = try parseHost(&c, what: "destination address", family: family)
            try checkSameFamily(src.address, dst.address, at: dstToken)
            let (proto, _) = try parseSAProtocol(&c)
            try expectEnd(&c, after: "deleteall SRC DST PROTOCOL")
            command = .deleteAll(source: src.address, destination: dst.address, proto: proto)
        case "flush", "dump":
            var proto: IPSecProtocol?
            if !c.atEnd { proto = try parseSAProtocol(&c).proto }
            try expectEnd(&c, after: "\(head.text) [PROTOCOL]")
            command = head.text == "flush" ? .flush(proto) : .dump(proto)
        case "spdadd": command = .spdAdd(try parsePolicy(&c, command: "spdadd"))
        case "spddelete": command = .spdDelete(try parsePolicy(&c, command: "spddelete").selector)
        case "spdflush":
            try expectEnd(&c, after: "spdflush")
            command = .spdFlush
        case "spddump":
            try expectEnd(&c, after: "spddump")
            command = .spdDump
        case "exit", "quit":
            throw error(head, "'\(head.text)' only makes sense at setkey's interactive prompt",
                        hint: "remove it from the file")
        default:
            if SetkeyStatementParser.commands.contains(head.text.lowercased()) {
                throw error(head, "unknown command '\(SetkeyLexer.quote(head.text))'",
                            hint: "setkey commands are lowercase: write '\(head.text.lowercased())'")
            }
            throw error(head, "expected a command, found '\(SetkeyLexer.quote(head.text))'", hint: commandHint)
        }
        return SetkeyStatement(command: command, location: location(head))
    }

    var commandHint: String {
        "a statement starts with add, get, delete, deleteall, flush, dump, spdadd, spddelete, spdflush or spddump"
    }

    // MARK: - add

    /// `add [-46n] src[port] dst[port] protocol spi [extensions] -E ealgo key [-A aalgo key] ;`
    /// `add [-46n] src dst ah spi [extensions] -A aalgo key ;`
    func parseAdd(_ c: inout TokenCursor) throws(ConfigError) -> SAConfig {
        let family = try parseAddressOptions(&c)
        let (src, _) = try parseHost(&c, what: "source address", family: family)
        let (dst, dstToken) = try parseHost(&c, what: "destination address", family: family)
        try checkSameFamily(src.address, dst.address, at: dstToken)
        let (proto, udp) = try parseSAProtocol(&c)
        if udp, let t = c.peek, t.kind == .word, looksLikeAddress(t.text) {
            throw error(t, "esp-udp with a NAT original address (NAT-OA) is not supported",
                        hint: "remove the address after esp-udp; the SPI follows the protocol")
        }
        let (spi, spiToken) = try parseSPI(&c)
        if spi < 256 {
            throw error(spiToken, "SPI \(spi) is reserved (RFC 4303 §2.1: 1–255 are reserved by IANA, 0 is never sent)",
                        hint: "use an SPI of 256 (0x100) or more")
        }
        var sa = SAConfig(source: src.address, destination: dst.address, proto: proto, spi: spi)
        if udp {
            // RFC 3948 / ipsec-tools: a port of 0 or none means 4500.
            let sport = src.port.flatMap { $0 == 0 ? nil : $0 } ?? 4500
            let dport = dst.port.flatMap { $0 == 0 ? nil : $0 } ?? 4500
            sa.encapsulation = .udp(sourcePort: sport, destinationPort: dport)
        }
        var options = SAOptions()
        try parseSAOptions(&c, into: &options, allowAlgorithms: true, command: "add")
        try options.apply(to: &sa, parser: self, statementEnd: c)
        return sa
    }

    /// `get|delete [-46n] src dst protocol spi [extensions] ;` — extensions are accepted and ignored, as setkey does.
    func parseSAIdentity(_ c: inout TokenCursor, command: String) throws(ConfigError)
        -> (IPAddress, IPAddress, IPSecProtocol, UInt32) {
        let family = try parseAddressOptions(&c)
        let (src, _) = try parseHost(&c, what: "source address", family: family)
        let (dst, dstToken) = try parseHost(&c, what: "destination address", family: family)
        try checkSameFamily(src.address, dst.address, at: dstToken)
        let (proto, _) = try parseSAProtocol(&c)
        let (spi, _) = try parseSPI(&c)
        var ignored = SAOptions()
        try parseSAOptions(&c, into: &ignored, allowAlgorithms: false, command: command)
        return (src.address, dst.address, proto, spi)
    }

    /// esp | ah | esp-udp (ESP-in-UDP, RFC 3948); the rest of setkey's protocols are refused by name.
    func parseSAProtocol(_ c: inout TokenCursor) throws(ConfigError) -> (proto: IPSecProtocol, udp: Bool) {
        let t = try expectWord(&c, "protocol (esp, ah or esp-udp)")
        switch t.text {
        case "esp": return (.esp, false)
        case "ah": return (.ah, false)
        case "esp-udp": return (.esp, true)
        case "esp-old", "ah-old":
            throw error(t, "\(t.text) (the RFC 1827/1826 transforms without replay protection) is not supported",
                        hint: "use \(t.text.hasPrefix("esp") ? "esp" : "ah")")
        case "ipcomp":
            throw error(t, "ipcomp (IP payload compression) is not supported",
                        hint: "remove the ipcomp SA and any ipcomp/… rule")
        case "tcp":
            throw error(t, "tcp (TCP-MD5 signature SAs, RFC 2385) is not supported", hint: "Tern handles ESP and AH only")
        default:
            throw error(t, "expected protocol esp, ah or esp-udp, found '\(SetkeyLexer.quote(t.text))'")
        }
    }

    /// Decimal or 0x-hex, 32 bits.
    func parseSPI(_ c: inout TokenCursor) throws(ConfigError) -> (UInt32, SetkeyToken) {
        let t = try expectWord(&c, "SPI (decimal or 0x hex)")
        guard let v = parseUnsigned(t.text, allowHex: true) else {
            throw error(t, "expected SPI (decimal or 0x hex), found '\(SetkeyLexer.quote(t.text))'",
                        hint: "write the SPI as a number such as 0x1001 or 4097")
        }
        guard v <= UInt64(UInt32.max) else {
            throw error(t, "SPI \(t.text) does not fit in 32 bits", hint: "an SPI is at most 0xffffffff")
        }
        return (UInt32(v), t)
    }

    // MARK: - shared helpers

    func location(_ t: SetkeyToken, offset: Int = 0) -> SourceLocation {
        // `offset` is a UTF-8 offset into the token's text; count scalars before it.
        var column = t.column + (t.kind == .quoted ? 1 : 0)
        var n = 0
        for b in t.text.utf8 {
            if n == offset { break }
            if b & 0xC0 != 0x80 { column += 1 }
            n += 1
        }
        return SourceLocation(file: file, line: t.line, column: column)
    }

    func endLocation(_ c: TokenCursor) -> SourceLocation {
        SourceLocation(file: file, line: c.endLine, column: c.endColumn)
    }

    func error(_ t: SetkeyToken, offset: Int = 0, _ message: String, hint: String? = nil) -> ConfigError {
        ConfigError(location: location(t, offset: offset), message: message, hint: hint)
    }

    func describe(_ t: SetkeyToken?) -> String {
        guard let t else { return "`;`" }
        return t.kind == .quoted ? "a quoted string" : "'\(SetkeyLexer.quote(t.text))'"
    }

    /// The next token, which must be a word; otherwise "expected \(what), found …".
    func expectWord(_ c: inout TokenCursor, _ what: String, hint: String? = nil) throws(ConfigError) -> SetkeyToken {
        guard let t = c.next() else {
            throw ConfigError(location: endLocation(c), message: "expected \(what), found `;`", hint: hint)
        }
        guard t.kind == .word else { throw error(t, "expected \(what), found a quoted string", hint: hint) }
        return t
    }

    func expectEnd(_ c: inout TokenCursor, after form: String) throws(ConfigError) {
        if let t = c.peek {
            throw error(t, "expected `;`, found \(describe(t))", hint: "the statement's form is `\(form);`")
        }
    }

    /// `-4`, `-6`, `-n` and combinations (`-4n`). setkey's `-n` (numeric only) is how Tern always
    /// reads addresses, since it never resolves names.
    func parseAddressOptions(_ c: inout TokenCursor) throws(ConfigError) -> IPAddress.Family? {
        var family: IPAddress.Family?
        while let t = c.peek, t.kind == .word, t.text.hasPrefix("-"), t.text.utf8.count >= 2 {
            let flags = t.text.utf8.dropFirst()
            guard flags.allSatisfy({ $0 == UInt8(ascii: "4") || $0 == UInt8(ascii: "6") || $0 == UInt8(ascii: "n") }) else {
                throw error(t, "unknown address option '\(SetkeyLexer.quote(t.text))'",
                            hint: "options before the addresses are -4, -6 and -n")
            }
            for f in flags where f != UInt8(ascii: "n") { family = f == UInt8(ascii: "4") ? .v4 : .v6 }
            _ = c.next()
        }
        return family
    }

    func checkSameFamily(_ a: IPAddress, _ b: IPAddress, at t: SetkeyToken) throws(ConfigError) {
        guard a.family == b.family else {
            throw error(t, "the source \(a) is \(familyName(a.family)) but the destination \(b) is \(familyName(b.family))",
                        hint: "both addresses of a statement must be of the same family")
        }
    }

    func familyName(_ f: IPAddress.Family) -> String { f == .v4 ? "IPv4" : "IPv6" }

    /// Decimal digits, or `0x` and hex digits when `allowHex`; nil for anything else or on overflow.
    func parseUnsigned(_ text: String, allowHex: Bool) -> UInt64? {
        let u = Array(text.utf8)
        if allowHex, u.count > 2, u[0] == UInt8(ascii: "0"), u[1] == UInt8(ascii: "x") || u[1] == UInt8(ascii: "X") {
            let digits = u[2...]
            guard digits.allSatisfy(isHexDigit) else { return nil }
            var v: UInt64 = 0
            for d in digits {
                let (m, o1) = v.multipliedReportingOverflow(by: 16)
                let (s, o2) = m.addingReportingOverflow(UInt64(hexValue(d)))
                if o1 || o2 { return nil }
                v = s
            }
            return v
        }
        guard !u.isEmpty, u.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        var v: UInt64 = 0
        for d in u {
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d - UInt8(ascii: "0")))
            if o1 || o2 { return nil }
            v = s
        }
        return v
    }
}

func isHexDigit(_ b: UInt8) -> Bool {
    (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "f"))
        || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "F"))
}

func hexValue(_ b: UInt8) -> UInt8 {
    switch b {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
    default: b &- UInt8(ascii: "A") &+ 10
    }
}
