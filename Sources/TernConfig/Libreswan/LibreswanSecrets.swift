/// Libreswan's ipsec.secrets: `SELECTORS : TYPE VALUE` entries (`@a @b : PSK "secret"`,
/// `: RSA "nickname"`), `#` comments, continuation lines starting with a blank (RSA { … }
/// blocks) and `include FILE`.
struct LibreswanSecret: Sendable, Hashable {
    enum Kind: String, Sendable, Hashable { case psk = "PSK", rsa = "RSA", ecdsa = "ECDSA", xauth = "XAUTH", eap = "EAP", pin = "PIN", ntlm = "NTLM" }
    var selectors: [String]
    var kind: Kind
    /// The value as written after the type (quotes removed for a quoted value).
    var value: String
    var quoted: Bool
    var location: SourceLocation
}

enum LibreswanSecretsSyntax {
    static func parse(_ text: String, file: String, include: LibreswanSyntax.IncludeResolver?, depth: Int = 0,
                      notes: inout [ConfigWarning]) throws(ConfigError) -> [LibreswanSecret] {
        // Join continuation lines (a blank in the first column) to the entry they continue.
        var logical: [(text: String, at: SourceLocation)] = []
        var lineNumber = 0
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let at = SourceLocation(file: file, line: lineNumber, column: 1)
            let line = try LibreswanSyntax.stripComment(raw.last == "\r" ? raw.dropLast() : raw[...], at: at)
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            if (line.first == " " || line.first == "\t"), !logical.isEmpty {
                logical[logical.count - 1].text += " " + line.trimmingCharacters()
            } else {
                logical.append((line.trimmingCharacters(), at))
            }
        }
        var out: [LibreswanSecret] = []
        for (line, at) in logical {
            if line.hasPrefix("include ") || line.hasPrefix("include\t") {
                let pattern = line.dropFirst("include".count).trimmingCharacters()
                guard let include else {
                    notes.append(ConfigWarning(location: at, message: "include \(pattern): not followed here; convert that file too"))
                    continue
                }
                guard depth < LibreswanSyntax.maximumIncludeDepth else {
                    throw ConfigError(location: at, message: "includes nested more than \(LibreswanSyntax.maximumIncludeDepth) deep", hint: "is a file including itself?")
                }
                for (t, f) in try include(pattern, at) {
                    out += try parse(t, file: f, include: include, depth: depth + 1, notes: &notes)
                }
                continue
            }
            let tokens = try tokenize(line, at: at)
            guard let colon = tokens.firstIndex(where: { $0.text == ":" && !$0.quoted }) else {
                throw ConfigError(location: at, message: "no ` : ` between the selectors and the secret",
                                  hint: "write e.g. `@gw-a @gw-b : PSK \"secret\"` (blanks around the colon)")
            }
            let selectors = tokens[..<colon].map(\.text)
            let rest = tokens[tokens.index(after: colon)...]
            guard let typeToken = rest.first, let kind = LibreswanSecret.Kind(rawValue: typeToken.text.uppercased()) else {
                throw ConfigError(location: at, message: "no secret type after ` : `",
                                  hint: "write PSK \"…\", RSA \"nickname\", ECDSA \"nickname\", XAUTH \"…\" or EAP \"…\"")
            }
            let values = rest.dropFirst()
            let value = values.map(\.text).joined(separator: " ")
            if kind == .psk || kind == .xauth || kind == .eap || kind == .ntlm {
                guard values.count == 1 else {
                    throw ConfigError(location: at, message: "\(kind.rawValue) needs exactly one value (\(values.count) given)",
                                      hint: "quote the secret: \(kind.rawValue) \"two words\"")
                }
            }
            out.append(LibreswanSecret(selectors: selectors, kind: kind, value: value, quoted: values.first?.quoted ?? false, location: at))
        }
        return out
    }

    struct Token { var text: String; var quoted: Bool }

    /// Blank-separated words; "…" and '…' are one word each.
    static func tokenize(_ line: String, at: SourceLocation) throws(ConfigError) -> [Token] {
        var out: [Token] = []
        var i = line.startIndex
        while i < line.endIndex {
            let c = line[i]
            if c == " " || c == "\t" { i = line.index(after: i); continue }
            if c == "\"" || c == "'" {
                let start = line.index(after: i)
                guard let end = line[start...].firstIndex(of: c) else {
                    throw ConfigError(location: at, message: "a quote opens and does not close", hint: "close it with \(c) on the same entry")
                }
                out.append(Token(text: String(line[start..<end]), quoted: true))
                i = line.index(after: end)
                continue
            }
            let end = line[i...].firstIndex { $0 == " " || $0 == "\t" } ?? line.endIndex
            out.append(Token(text: String(line[i..<end]), quoted: false))
            i = end
        }
        return out
    }
}
