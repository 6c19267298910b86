/// The syntax of Libreswan/Openswan's ipsec.conf: `config setup` and `conn NAME` headers in the
/// first column, `key=value` settings indented under them, `#` comments, `include FILE` and
/// `version 2` lines. Values may be quoted with "…" (for blanks or `#` inside them).
struct LibreswanSetting: Sendable, Hashable {
    var key: String
    var value: String
    var location: SourceLocation
}

struct LibreswanSection: Sendable, Hashable {
    enum Kind: Sendable, Hashable { case config, conn }
    var kind: Kind
    var name: String
    var location: SourceLocation
    var settings: [LibreswanSetting]

    func first(_ key: String) -> LibreswanSetting? { settings.first { $0.key == key } }
}

enum LibreswanSyntax {
    typealias IncludeResolver = (String, SourceLocation) throws(ConfigError) -> [(text: String, file: String)]

    static let maximumIncludeDepth = 10

    /// Parses ipsec.conf text into sections, following `include` lines through `include`.
    /// Without a resolver an `include` line is reported in `notes` and skipped.
    static func parse(_ text: String, file: String, include: IncludeResolver?, depth: Int = 0,
                      notes: inout [ConfigWarning]) throws(ConfigError) -> [LibreswanSection] {
        var sections: [LibreswanSection] = []
        var current: LibreswanSection?
        var unindentedNoted: Set<SourceLocation> = []
        var lineNumber = 0
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let at = SourceLocation(file: file, line: lineNumber, column: 1)
            let line = try stripComment(raw.last == "\r" ? raw.dropLast() : raw[...], at: at)
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            var indented = line.first == " " || line.first == "\t"
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            // A key=value in the first column under a section: Libreswan refuses it, but pages
            // that lost their indentation look just like this. Read it as the section's, once said.
            if !indented, current != nil, let eq = line.firstIndex(of: "="),
               !["conn", "config", "include", "version"].contains(words[0]),
               !line[..<eq].contains(where: { $0 == " " || $0 == "\t" }) {
                if !unindentedNoted.contains(current!.location) {
                    unindentedNoted.insert(current!.location)
                    notes.append(ConfigWarning(location: at, message: "settings of \(current!.kind == .conn ? "conn \(current!.name)" : "config setup") start in the first column; Libreswan wants them indented (read as belonging to it)"))
                }
                indented = true
            }
            if !indented {
                if let c = current { sections.append(c); current = nil }
                switch words[0] {
                case "conn":
                    guard words.count == 2 else {
                        throw ConfigError(location: at, message: "`conn` needs exactly one name", hint: "write `conn NAME` in the first column")
                    }
                    current = LibreswanSection(kind: .conn, name: String(words[1]), location: at, settings: [])
                case "config":
                    guard words.count == 2, words[1] == "setup" else {
                        throw ConfigError(location: at, message: "unknown section `\(line)`", hint: "the only config section is `config setup`")
                    }
                    current = LibreswanSection(kind: .config, name: "setup", location: at, settings: [])
                case "version":
                    continue   // `version 2` / `version 2.0`: the file format, nothing to convert
                case "include":
                    guard words.count == 2 else {
                        throw ConfigError(location: at, message: "`include` needs one file name or pattern", hint: "write `include /etc/ipsec.d/*.conf`")
                    }
                    guard let include else {
                        notes.append(ConfigWarning(location: at, message: "include \(words[1]): not followed here; convert that file too"))
                        continue
                    }
                    guard depth < maximumIncludeDepth else {
                        throw ConfigError(location: at, message: "includes nested more than \(maximumIncludeDepth) deep", hint: "is a file including itself?")
                    }
                    for (t, f) in try include(String(words[1]), at) {
                        sections += try parse(t, file: f, include: include, depth: depth + 1, notes: &notes)
                    }
                default:
                    if line.contains("=") {
                        throw ConfigError(location: at, message: "`\(words[0])` is a setting but starts in the first column",
                                          hint: "indent settings under their `conn NAME` or `config setup` line")
                    }
                    throw ConfigError(location: at, message: "unknown line `\(line)`",
                                      hint: "ipsec.conf holds `config setup`, `conn NAME`, indented key=value settings, include and version lines")
                }
                continue
            }
            guard current != nil else {
                throw ConfigError(location: at, message: "a setting before any `conn` or `config setup` line",
                                  hint: "put it under a `conn NAME` line")
            }
            let body = line.drop { $0 == " " || $0 == "\t" }
            let column = line.distance(from: line.startIndex, to: body.startIndex) + 1
            let kvAt = SourceLocation(file: file, line: lineNumber, column: column)
            guard let eq = body.firstIndex(of: "=") else {
                throw ConfigError(location: kvAt, message: "`\(body)` is not key=value", hint: "write e.g. left=192.0.2.1")
            }
            let key = body[..<eq].trimmingCharacters()
            var value = body[body.index(after: eq)...].trimmingCharacters()
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
                throw ConfigError(location: kvAt, message: "`\(key)` is not a setting name", hint: "write key=value, e.g. leftsubnet=10.1.0.0/24")
            }
            if value.hasPrefix("\"") {
                guard value.count >= 2, value.hasSuffix("\"") else {
                    throw ConfigError(location: kvAt, message: "the value of \(key) opens a quote and does not close it", hint: "close it with \" on the same line")
                }
                value = String(value.dropFirst().dropLast())
            }
            if key != "also", current!.settings.contains(where: { $0.key == key }) {
                throw ConfigError(location: kvAt, message: "\(key) is set twice in \(current!.kind == .conn ? "conn \(current!.name)" : "config setup")",
                                  hint: "remove one of them (Libreswan refuses duplicates too)")
            }
            current!.settings.append(LibreswanSetting(key: key, value: value, location: kvAt))
        }
        if let c = current { sections.append(c) }
        return sections
    }

    /// The line without a `#` comment: a `#` that starts the line or follows a blank, outside
    /// "…" (so `leftid=@#0a0b`, a KEY_ID, keeps its `#`).
    static func stripComment(_ line: Substring, at: SourceLocation) throws(ConfigError) -> Substring {
        var quoted = false
        var previous: Character = " "
        for i in line.indices {
            let c = line[i]
            if c == "\"" { quoted.toggle() }
            if c == "#" && !quoted && (previous == " " || previous == "\t") { return line[..<i] }
            previous = c
        }
        return line
    }
}

extension StringProtocol {
    /// Without leading and trailing blanks (spaces and tabs).
    func trimmingCharacters() -> String {
        let s = self.drop { $0 == " " || $0 == "\t" }
        var end = s.endIndex
        while end > s.startIndex, s[s.index(before: end)] == " " || s[s.index(before: end)] == "\t" { end = s.index(before: end) }
        return String(s[..<end])
    }
}
