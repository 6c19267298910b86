/// The syntax tree of a swanctl.conf (strongSwan's settings format): sections holding
/// `key = value` pairs and further sections. It knows nothing of what the keys mean; the
/// typed conversion (`SwanctlLoader.configuration(from:)`) reads it, and a VICI `load-conn`
/// message can be turned into the same tree to share that conversion.

/// One `key = value`. `value` is the text after `=` as strongSwan's lexer delivers it: quoted
/// strings unescaped, unquoted runs separated by a single space. An empty value (`key =`)
/// means "unset", as in strongSwan (it shadows a value inherited through a reference).
public struct SwanctlKeyValue: Sendable, Hashable {
    public var key: String
    public var value: String
    /// Where the key is.
    public var location: SourceLocation
    /// Where the value starts (the column after `= ` and any blanks); errors about the value
    /// point here.
    public var valueLocation: SourceLocation

    public init(key: String, value: String, location: SourceLocation, valueLocation: SourceLocation? = nil) {
        self.key = key; self.value = value; self.location = location
        self.valueLocation = valueLocation ?? location
    }
}

/// A `name { … }` section. Same-named sections at one level are merged, as strongSwan's
/// settings do: the first one keeps its place, a later key replaces the earlier value in place.
public struct SwanctlSection: Sendable, Hashable {
    public var name: String
    /// Where the section was first opened (the root: line 1, column 1 of the first file).
    public var location: SourceLocation
    public var keyValues: [SwanctlKeyValue]
    public var subsections: [SwanctlSection]
    /// `name : base, other { … }` references as written (dotted paths from the root). They
    /// are already resolved: inherited keys and sections are part of `keyValues`/`subsections`.
    public var references: [String]

    public init(name: String, location: SourceLocation, keyValues: [SwanctlKeyValue] = [],
                subsections: [SwanctlSection] = [], references: [String] = []) {
        self.name = name; self.location = location; self.keyValues = keyValues
        self.subsections = subsections; self.references = references
    }

    /// The definition of `key` (the last one wins, as in strongSwan); nil if absent.
    public func value(_ key: String) -> SwanctlKeyValue? {
        keyValues.last { $0.key == key }
    }

    /// The subsection called `name` (exact, case-sensitive match, like strongSwan's lookup).
    public func subsection(_ name: String) -> SwanctlSection? {
        subsections.first { $0.name == name }
    }

    /// Sets `kv`: replaces the value of an existing key in place, or appends.
    public mutating func set(_ kv: SwanctlKeyValue) {
        if let i = keyValues.firstIndex(where: { $0.key == kv.key }) {
            keyValues[i] = kv
        } else {
            keyValues.append(kv)
        }
    }

    /// Adds `section`, merging it into an existing one of the same name.
    public mutating func add(_ section: SwanctlSection) {
        if let i = subsections.firstIndex(where: { $0.name == section.name }) {
            subsections[i].merge(section)
        } else {
            subsections.append(section)
        }
    }

    /// Merges `other` into this section: its keys override, its sections merge recursively.
    public mutating func merge(_ other: SwanctlSection) {
        for kv in other.keyValues { set(kv) }
        for s in other.subsections { add(s) }
        for r in other.references where !references.contains(r) { references.append(r) }
    }

    /// This section with `base` underneath: keys and sections of `base` that this section does
    /// not define are inherited (appended after its own), same-named sections combine likewise.
    func inheriting(from base: SwanctlSection) -> SwanctlSection {
        var out = self
        for kv in base.keyValues where !keyValues.contains(where: { $0.key == kv.key }) {
            out.keyValues.append(kv)
        }
        for s in base.subsections {
            if let i = out.subsections.firstIndex(where: { $0.name == s.name }) {
                out.subsections[i] = out.subsections[i].inheriting(from: s)
            } else {
                out.subsections.append(s)
            }
        }
        return out
    }
}
