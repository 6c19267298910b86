/// Splits setkey text into statements of tokens.
///
/// The lexical rules (setkey(8), simplified to what files use):
/// - a statement is every token up to `;`, across any number of lines;
/// - `#` starts a comment that runs to the end of the line (so a leading `#!/usr/sbin/setkey -f`
///   is one), except inside a quoted string;
/// - a token is a `"quoted string"` (no escapes, no line breaks) or a run of characters other
///   than white space, `;`, `#` and `"`. Sub-structure inside a word (`192.0.2.0/24[any]`,
///   `esp/tunnel/a-b/require`) is parsed later, with columns computed from the word's start.
///
/// Works on UTF-8 bytes so that hostile input cannot make it slow or crash it; columns count
/// Unicode scalars (continuation bytes do not advance the column).
struct SetkeyToken: Sendable, Hashable {
    enum Kind: Sendable, Hashable { case word, quoted }
    var kind: Kind
    /// The word, or the content of a quoted string without its quotes.
    var text: String
    var line: Int
    /// Column of the token's first character (for a quoted string: of the opening quote).
    var column: Int
}

struct SetkeyRawStatement: Sendable {
    var tokens: [SetkeyToken]
    /// Where the terminating `;` is (for the unterminated last statement: just after its last token).
    var endLine: Int
    var endColumn: Int
    /// False for tokens left at the end of the file without a `;`.
    var terminated = true
}

struct SetkeyLexer {
    let file: String

    /// Statements in order. Tokens after the last `;` come back as an unterminated statement;
    /// the parser reports what is wrong with them (at least the missing `;`).
    func statements(_ text: String) throws(ConfigError) -> [SetkeyRawStatement] {
        let bytes = Array(text.utf8)
        var out: [SetkeyRawStatement] = []
        var current: [SetkeyToken] = []
        var i = 0, line = 1, column = 1

        // Advances over one byte, keeping line and column.
        func advance() {
            let b = bytes[i]
            i += 1
            if b == UInt8(ascii: "\n") { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
        }

        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0B, 0x0C:
                advance()
            case UInt8(ascii: "#"):
                while i < bytes.count && bytes[i] != UInt8(ascii: "\n") { advance() }
            case UInt8(ascii: ";"):
                out.append(SetkeyRawStatement(tokens: current, endLine: line, endColumn: column))
                current = []
                advance()
            case UInt8(ascii: "\""):
                let startLine = line, startColumn = column
                advance()
                let start = i
                while i < bytes.count && bytes[i] != UInt8(ascii: "\"") && bytes[i] != UInt8(ascii: "\n") { advance() }
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else {
                    throw ConfigError(location: SourceLocation(file: file, line: startLine, column: startColumn),
                                      message: "unterminated quoted string",
                                      hint: "close it with \" on the same line")
                }
                let content = String(decoding: bytes[start..<i], as: UTF8.self)
                advance()
                current.append(SetkeyToken(kind: .quoted, text: content, line: startLine, column: startColumn))
            default:
                let startLine = line, startColumn = column
                let start = i
                while i < bytes.count && !SetkeyLexer.endsWord(bytes[i]) { advance() }
                let word = String(decoding: bytes[start..<i], as: UTF8.self)
                current.append(SetkeyToken(kind: .word, text: word, line: startLine, column: startColumn))
            }
        }
        if let last = current.last {
            out.append(SetkeyRawStatement(tokens: current, endLine: last.line,
                                          endColumn: last.column + SetkeyLexer.width(last), terminated: false))
        }
        return out
    }

    /// The error for a statement cut off by the end of the file.
    func missingSemicolon(_ s: SetkeyRawStatement) -> ConfigError {
        let first = s.tokens.first.map { "'\(SetkeyLexer.quote($0.text))' at line \($0.line)" } ?? "here"
        return ConfigError(location: SourceLocation(file: file, line: s.endLine, column: s.endColumn),
                           message: "expected `;` after the statement that begins with \(first), found end of file",
                           hint: "every setkey statement ends with `;`")
    }

    static func endsWord(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0B, 0x0C,
             UInt8(ascii: ";"), UInt8(ascii: "#"), UInt8(ascii: "\""):
            return true
        default:
            return false
        }
    }

    /// Columns a token occupies on its line.
    static func width(_ t: SetkeyToken) -> Int {
        let scalars = t.text.unicodeScalars.count
        return t.kind == .quoted ? scalars + 2 : scalars
    }

    /// A token as quoted in a message: at most 40 scalars, control characters escaped, and a
    /// long `0x` value (a key in the wrong place, most likely) described by its length only.
    static func quote(_ text: String) -> String {
        let u = text.utf8
        if u.count > 18, u.starts(with: "0x".utf8) || u.starts(with: "0X".utf8) {
            return "0x… (\(u.count - 2) hex digits)"
        }
        var out = ""
        var n = 0
        for s in text.unicodeScalars {
            if n == 40 { out += "…"; break }
            n += 1
            if s.value < 0x20 || s.value == 0x7F { out += "\\u{\(String(s.value, radix: 16))}" } else { out.unicodeScalars.append(s) }
        }
        return out
    }
}
