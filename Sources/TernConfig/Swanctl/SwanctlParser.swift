/// Parses swanctl.conf text into a `SwanctlSection` tree (strongSwan's settings_parser.y):
///
///     statements := { section | setting | include }
///     section    := NAME [ ":" REF { "," REF } ] "{" statements "}"
///     setting    := NAME "=" [ value ]              (value: to the end of the line, `#` or `}`)
///     include    := "include" PATTERN                (not followed by "=": `include = x` is a key)
///
/// Same-named sections merge and a later key overrides an earlier one. References
/// (`conn : connections.base { … }`, dotted paths from the root) are resolved once the whole
/// text, includes and all, is read: the section inherits what it does not define itself.
///
/// The parser reads no files: `include` hands its pattern to the `include` closure, which
/// returns the texts to parse in place (SwanctlLoader resolves globs relative to the including
/// file). Each included text must be balanced on its own; include cycles are refused.
public enum SwanctlParser {
    public typealias IncludeResolver = (String, SourceLocation) throws(ConfigError) -> [(text: String, file: String)]

    /// Nesting deeper than this is refused (the recursion stays far from the stack's end).
    public static let maximumDepth = 64
    /// Includes nested deeper than this are refused (strongSwan's lexer stops at 10 too).
    public static let maximumIncludeDepth = 10

    /// Parses text (no include resolution by default: `include` is an error unless a resolver
    /// is passed). Returns the root section, named "".
    public static func parse(
        text: String, file: String,
        include: IncludeResolver = { _, at throws(ConfigError) in
            throw ConfigError(location: at, message: "include not allowed here",
                              hint: "load the file with SwanctlLoader.load(path:) to resolve includes")
        }
    ) throws(ConfigError) -> SwanctlSection {
        try parseRecording(text: text, file: file, include: include).root
    }

    /// A key defined somewhere, with the path of section names leading to it; kept for every
    /// definition, including ones a later definition overrode (the loader checks which files
    /// hold secrets).
    struct Definition {
        var path: [String]
        var keyValue: SwanctlKeyValue
    }

    static func parseRecording(text: String, file: String, include: IncludeResolver)
        throws(ConfigError) -> (root: SwanctlSection, definitions: [Definition]) {
        try withoutActuallyEscaping(include) { include throws(ConfigError) in
            var parser = SwanctlTreeBuilder(include: include)
            var root = SwanctlSection(name: "", location: SourceLocation(file: file, line: 1, column: 1))
            var scanner = SwanctlScanner(text: text, file: file)
            try parser.statements(&scanner, into: &root, path: [], opened: nil, includeStack: [file])
            var resolver = SwanctlReferenceResolver(root: root)
            return (try resolver.resolve(), parser.definitions)
        }
    }
}

/// Builds the tree from the scanner's tokens; one per parse.
struct SwanctlTreeBuilder {
    let include: SwanctlParser.IncludeResolver
    var definitions: [SwanctlParser.Definition] = []

    init(include: @escaping SwanctlParser.IncludeResolver) { self.include = include }

    /// Statements up to the `}` closing the section opened at `opened` (nil: up to the end of
    /// the text, where a `}` is an error).
    mutating func statements(_ s: inout SwanctlScanner, into section: inout SwanctlSection, path: [String],
                             opened: (name: String, at: SourceLocation)?, includeStack: [String]) throws(ConfigError) {
        while true {
            s.skipBlanks(newlines: true)
            guard let b = s.current else {
                if let opened {
                    throw ConfigError(location: opened.at, message: "section `\(opened.name)` is never closed",
                                      hint: "add `}` after its last line")
                }
                return
            }
            if b == SettingsByte.closeBrace {
                guard opened != nil else {
                    throw ConfigError(location: s.location, message: "`}` without a section to close",
                                      hint: "remove it, or add the `name {` it was meant to close")
                }
                s.advance()
                return
            }
            guard SwanctlScanner.isNameByte(b) else {
                let what = b == SettingsByte.quote ? "a quoted string (names cannot be quoted)" : s.currentDescription
                throw ConfigError(location: s.location, message: "expected a key or section name, found \(what)",
                                  hint: "write `name {` … `}` for a section or `key = value` for a setting")
            }
            let at = s.location
            let name = s.name()
            if name == "include", try includeStatement(&s, at: at, into: &section, path: path, includeStack: includeStack) {
                continue
            }
            s.skipBlanks(newlines: true)
            switch s.current {
            case SettingsByte.equals:
                s.advance()
                let (value, valueAt) = try s.value()
                let kv = SwanctlKeyValue(key: name, value: value, location: at, valueLocation: valueAt)
                definitions.append(SwanctlParser.Definition(path: path, keyValue: kv))
                section.set(kv)
            case SettingsByte.openBrace, SettingsByte.colon:
                let references = try self.references(&s)
                guard path.count < SwanctlParser.maximumDepth else {
                    throw ConfigError(location: at, message: "sections are nested more than \(SwanctlParser.maximumDepth) deep",
                                      hint: "check for a missing `}`")
                }
                s.advance()   // `{`
                var sub = SwanctlSection(name: name, location: at, references: references)
                try statements(&s, into: &sub, path: path + [name], opened: (name, at), includeStack: includeStack)
                section.add(sub)
            default:
                throw ConfigError(location: s.location, message: "expected `=` or `{` after `\(name)`, found \(s.currentDescription)",
                                  hint: "write `\(name) = value` for a setting or `\(name) {` … `}` for a section; names cannot contain spaces")
            }
        }
    }

    /// `: a.b, c {` after a section name (or just `{`); leaves the scanner at the `{`.
    private func references(_ s: inout SwanctlScanner) throws(ConfigError) -> [String] {
        guard s.current == SettingsByte.colon else { return [] }
        s.advance()
        var out: [String] = []
        while true {
            s.skipBlanks(newlines: true)
            var parts: [String] = []
            repeat {
                if !parts.isEmpty { s.advance() }   // the `.`
                let part = s.name()
                guard !part.isEmpty else {
                    throw ConfigError(location: s.location, message: "expected the name of a referenced section, found \(s.currentDescription)",
                                      hint: "write `name : base {` where base is a dotted path from the top, e.g. `connections.defaults`")
                }
                parts.append(part)
            } while s.current == SettingsByte.dot
            out.append(parts.joined(separator: "."))
            s.skipBlanks(newlines: true)
            if s.current == SettingsByte.comma { s.advance(); continue }
            guard s.current == SettingsByte.openBrace else {
                throw ConfigError(location: s.location, message: "expected `,` or `{` after a section reference, found \(s.currentDescription)",
                                  hint: "write `name : base1, base2 {`")
            }
            return out
        }
    }

    /// Handles `include PATTERN` if that is what follows the word `include` (blanks and then
    /// anything but `=`, which would make it a key, or `{`/`:`, a section); returns false if not.
    private mutating func includeStatement(_ s: inout SwanctlScanner, at: SourceLocation, into section: inout SwanctlSection,
                                           path: [String], includeStack: [String]) throws(ConfigError) -> Bool {
        var probe = 0
        while let b = s.peek(probe), b == SettingsByte.space || b == SettingsByte.tab { probe += 1 }
        guard probe > 0, let next = s.peek(probe), next != SettingsByte.equals, next != SettingsByte.openBrace,
              next != SettingsByte.colon else { return false }
        s.skipBlanks(newlines: false)
        let patternAt = s.location
        let pattern = try s.includePattern()
        guard !pattern.isEmpty else {
            throw ConfigError(location: patternAt, message: "`include` needs a file name or glob pattern",
                              hint: "write e.g. `include conf.d/*.conf` (relative to this file's directory)")
        }
        let files = try include(pattern, patternAt)
        for f in files {
            if let i = includeStack.firstIndex(of: f.file) {
                let cycle = (includeStack[i...] + [f.file]).joined(separator: " → ")
                throw ConfigError(location: patternAt, message: "include cycle: \(cycle)",
                                  hint: "remove the include of \(f.file) here, or narrow the pattern")
            }
            guard includeStack.count <= SwanctlParser.maximumIncludeDepth else {
                throw ConfigError(location: patternAt, message: "includes are nested more than \(SwanctlParser.maximumIncludeDepth) deep",
                                  hint: "flatten the includes")
            }
            var inner = SwanctlScanner(text: f.text, file: f.file)
            try statements(&inner, into: &section, path: path, opened: nil, includeStack: includeStack + [f.file])
        }
        return true
    }
}

/// Resolves `name : base` references: each section inherits, after its own keys and sections,
/// those of the sections it names (earlier references first), recursively. A reference to a
/// section that does not exist, or a cycle of references, is an error (strongSwan ignores
/// both silently, which would drop inherited settings without a word).
struct SwanctlReferenceResolver {
    let root: SwanctlSection
    private var done: [String: SwanctlSection] = [:]
    private var inProgress: Set<String> = []
    /// Bounds the work a hostile input can cause (each resolution copies sections).
    private var budget = 10_000

    init(root: SwanctlSection) { self.root = root }

    mutating func resolve() throws(ConfigError) -> SwanctlSection {
        guard Self.hasReferences(root) else { return root }
        return try resolve(root, path: [])
    }

    private static func hasReferences(_ s: SwanctlSection) -> Bool {
        !s.references.isEmpty || s.subsections.contains(where: hasReferences)
    }

    private mutating func resolve(_ section: SwanctlSection, path: [String]) throws(ConfigError) -> SwanctlSection {
        let key = path.joined(separator: ".")
        if let cached = done[key] { return cached }
        budget -= 1
        guard budget > 0 else {
            throw ConfigError(location: section.location, message: "too many section references to resolve",
                              hint: "simplify the `name : base` references")
        }
        guard inProgress.insert(key).inserted else {
            throw ConfigError(location: section.location, message: "section `\(key)` references itself (a reference cycle)",
                              hint: "remove the reference that leads back to it")
        }
        var out = section
        for i in out.subsections.indices {
            out.subsections[i] = try resolve(out.subsections[i], path: path + [out.subsections[i].name])
        }
        for reference in section.references {
            guard let target = lookup(reference) else {
                throw ConfigError(location: section.location, message: "section `\(section.name)` references `\(reference)`, which does not exist",
                                  hint: "references are dotted paths from the top of the file, e.g. `connections.defaults`")
            }
            out = out.inheriting(from: try resolve(target, path: reference.split(separator: ".").map(String.init)))
        }
        inProgress.remove(key)
        done[key] = out
        return out
    }

    private func lookup(_ dotted: String) -> SwanctlSection? {
        var s = root
        for part in dotted.split(separator: ".", omittingEmptySubsequences: false) {
            guard let next = s.subsection(String(part)) else { return nil }
            s = next
        }
        return s
    }
}
