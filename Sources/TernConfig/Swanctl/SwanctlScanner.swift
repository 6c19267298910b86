/// The lexical layer of strongSwan's settings format (settings_lexer.l), over UTF-8 bytes so
/// hostile input can neither slow it down nor crash it. Columns count Unicode scalars.
///
/// The rules it implements, as strongSwan's lexer has them:
/// - blanks are spaces, tabs and carriage returns; `#` starts a comment to the end of the line;
///   outside values, newlines are blanks too (so `name` and `{` may sit on different lines);
/// - a name is a run of anything but `# { } : . , = "`, blanks and newlines;
/// - a value runs from after `=` to the end of the line, a `#` or a `}`; it is made of unquoted
///   runs (anything but `# } "`, blanks, newlines) and quoted strings, joined by one space;
/// - quoted strings may span lines and know the escapes `\n`, `\r`, `\t`, `\` + newline (a line
///   continuation) and `\` + any other character (that character); carriage returns are dropped.
struct SwanctlScanner {
    let file: String
    let bytes: [UInt8]
    private(set) var index = 0
    private(set) var line = 1
    private(set) var column = 1

    init(text: String, file: String) {
        self.file = file
        self.bytes = Array(text.utf8)
    }

    var atEnd: Bool { index >= bytes.count }
    var current: UInt8? { index < bytes.count ? bytes[index] : nil }
    var location: SourceLocation { SourceLocation(file: file, line: line, column: column) }

    func peek(_ offset: Int) -> UInt8? {
        let i = index + offset
        return i < bytes.count ? bytes[i] : nil
    }

    mutating func advance() {
        guard index < bytes.count else { return }
        let b = bytes[index]
        index += 1
        if b == SettingsByte.newline { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
    }

    /// Skips blanks and comments, and newlines too when `newlines` is set.
    mutating func skipBlanks(newlines: Bool) {
        while let b = current {
            if b == SettingsByte.space || b == SettingsByte.tab || b == SettingsByte.carriageReturn {
                advance()
            } else if b == SettingsByte.newline && newlines {
                advance()
            } else if b == SettingsByte.hash {
                while let c = current, c != SettingsByte.newline { advance() }
            } else {
                return
            }
        }
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        switch b {
        case SettingsByte.hash, SettingsByte.openBrace, SettingsByte.closeBrace, SettingsByte.colon, SettingsByte.dot, SettingsByte.comma, SettingsByte.equals, SettingsByte.quote, SettingsByte.carriageReturn, SettingsByte.newline, SettingsByte.tab, SettingsByte.space: false
        default: true
        }
    }

    /// A run of name characters (possibly empty).
    mutating func name() -> String {
        let start = index
        while let b = current, SwanctlScanner.isNameByte(b) { advance() }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// The value after `=`: returns its text and where it starts (for an empty value, where
    /// it would have started). Stops before `#` and `}`, which belong to the enclosing syntax.
    mutating func value() throws(ConfigError) -> (String, SourceLocation) {
        var parts: [String] = []
        var start: SourceLocation?
        while let b = current {
            switch b {
            case SettingsByte.space, SettingsByte.tab, SettingsByte.carriageReturn:
                advance()
            case SettingsByte.newline, SettingsByte.hash, SettingsByte.closeBrace:
                return (parts.joined(separator: " "), start ?? location)
            case SettingsByte.quote:
                if start == nil { start = location }
                parts.append(try quoted())
            default:
                if start == nil { start = location }
                let from = index
                while let c = current, c != SettingsByte.hash, c != SettingsByte.closeBrace, c != SettingsByte.quote, c != SettingsByte.carriageReturn,
                      c != SettingsByte.newline, c != SettingsByte.tab, c != SettingsByte.space { advance() }
                parts.append(String(decoding: bytes[from..<index], as: UTF8.self))
            }
        }
        return (parts.joined(separator: " "), start ?? location)
    }

    /// A quoted string starting at the current `"`; returns its unescaped content.
    mutating func quoted() throws(ConfigError) -> String {
        let open = location
        advance()
        var out: [UInt8] = []
        while true {
            guard let b = current else {
                throw ConfigError(location: open, message: "unterminated quoted string",
                                  hint: "close it with \"; write \\\" for a quote inside it")
            }
            switch b {
            case SettingsByte.quote:
                advance()
                return String(decoding: out, as: UTF8.self)
            case SettingsByte.carriageReturn:
                advance()
            case SettingsByte.backslash:
                advance()
                guard let e = current else {
                    throw ConfigError(location: open, message: "unterminated quoted string (it ends with a lone backslash)",
                                      hint: "close it with \"; write \\\\ for a backslash")
                }
                switch e {
                case UInt8(ascii: "n"): out.append(SettingsByte.newline); advance()
                case UInt8(ascii: "r"): out.append(SettingsByte.carriageReturn); advance()
                case UInt8(ascii: "t"): out.append(SettingsByte.tab); advance()
                case SettingsByte.newline: advance()                              // line continuation
                case SettingsByte.carriageReturn where peek(1) == SettingsByte.newline: advance(); advance()
                default: out.append(e); advance()
                }
            default:
                out.append(b)
                advance()
            }
        }
    }

    /// The file pattern of an `include`: a quoted string, or a run up to a blank, `#`, `}` or
    /// the end of the line in which `\"`, `\#`, `\}` and `\ ` stand for those characters.
    mutating func includePattern() throws(ConfigError) -> String {
        if current == SettingsByte.quote { return try quoted() }
        var out: [UInt8] = []
        while let b = current {
            switch b {
            case SettingsByte.hash, SettingsByte.closeBrace, SettingsByte.newline, SettingsByte.tab, SettingsByte.space:
                return String(decoding: out, as: UTF8.self)
            case SettingsByte.carriageReturn:
                advance()
            case SettingsByte.backslash:
                advance()
                if let e = current, e == SettingsByte.quote || e == SettingsByte.hash || e == SettingsByte.closeBrace || e == SettingsByte.space {
                    out.append(e); advance()
                } else {
                    out.append(SettingsByte.backslash)
                }
            default:
                out.append(b); advance()
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A printable description of the byte at the cursor, for error messages.
    var currentDescription: String {
        guard let b = current else { return "the end of the file" }
        if b == SettingsByte.newline { return "the end of the line" }
        if b < 0x20 || b == 0x7F { return "byte 0x\(String(b, radix: 16))" }
        if b >= 0x80 { return "a non-ASCII character" }
        return "`\(Character(Unicode.Scalar(b)))`"
    }
}

/// The bytes the settings syntax gives meaning to.
enum SettingsByte {
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let hash = UInt8(ascii: "#")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let colon = UInt8(ascii: ":")
    static let dot = UInt8(ascii: ".")
    static let comma = UInt8(ascii: ",")
    static let equals = UInt8(ascii: "=")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
}
