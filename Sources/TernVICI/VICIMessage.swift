/// An ordered VICI message: the tree of key/values, sections and lists that CMD_REQUEST,
/// CMD_RESPONSE and EVENT packets carry (strongSwan's src/libcharon/plugins/vici/README.md).
///
/// Order is preserved exactly as decoded or built, so `decode(m.encoded()) == m`.
/// Names are unique within a section: the README says so, the decoder rejects repeats (a
/// first-wins reader and a last-wins reader must never disagree about a request), and the
/// subscript setter replaces the first match. `entries` is public for iteration and for
/// building in bulk; `validate()` tells whether a hand-built message will encode cleanly.
public struct VICIMessage: Sendable, Hashable {
    public enum Element: Sendable, Hashable {
        /// A KEY_VALUE blob. strongSwan puts strings here, numbers as decimal strings.
        case value([UInt8])
        /// A named sub-section.
        case section(VICIMessage)
        /// A LIST of unnamed blobs; lists never nest.
        case list([[UInt8]])
    }

    public struct Entry: Sendable, Hashable {
        public var key: String
        public var element: Element
        public init(key: String, element: Element) {
            self.key = key
            self.element = element
        }
    }

    public var entries: [Entry]

    public init() { entries = [] }

    public init(entries: [Entry]) { self.entries = entries }

    /// The first entry with `key`. Setting replaces that entry in place, appends a new one,
    /// or (with `nil`) removes every entry with `key`.
    public subscript(key: String) -> Element? {
        get { entries.first { $0.key == key }?.element }
        set {
            if let newValue {
                if let i = entries.firstIndex(where: { $0.key == key }) {
                    entries[i].element = newValue
                } else {
                    entries.append(Entry(key: key, element: newValue))
                }
            } else {
                entries.removeAll { $0.key == key }
            }
        }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }
    public var keys: [String] { entries.map(\.key) }

    // MARK: Convenience accessors

    /// Sets `key` to a string value.
    public mutating func set(_ key: String, _ value: String) { self[key] = .value(Array(value.utf8)) }
    /// Sets `key` to a decimal number, as strongSwan encodes numbers.
    public mutating func set<I: BinaryInteger>(_ key: String, _ value: I) { set(key, String(value)) }
    /// Sets `key` to a nested section.
    public mutating func set(_ key: String, section: VICIMessage) { self[key] = .section(section) }
    /// Sets `key` to a list of strings.
    public mutating func set(_ key: String, list: [String]) { self[key] = .list(list.map { Array($0.utf8) }) }

    /// The value of `key` as UTF-8 text; nil if absent, not a value, or not valid UTF-8.
    public func string(_ key: String) -> String? { self[key]?.string }
    /// The raw value of `key`; nil if absent or not a value.
    public func bytes(_ key: String) -> [UInt8]? {
        if case .value(let v)? = self[key] { return v }
        return nil
    }
    /// The section at `key`; nil if absent or not a section.
    public func section(_ key: String) -> VICIMessage? {
        if case .section(let s)? = self[key] { return s }
        return nil
    }
    /// The list at `key` as UTF-8 strings; nil if absent, not a list, or an item is not UTF-8.
    public func list(_ key: String) -> [String]? {
        guard case .list(let items)? = self[key] else { return nil }
        var out: [String] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let s = String(validating: item, as: UTF8.self) else { return nil }
            out.append(s)
        }
        return out
    }
}

extension VICIMessage.Element {
    /// A string value element.
    public static func string(_ s: String) -> Self { .value(Array(s.utf8)) }
    /// A list element of strings.
    public static func strings(_ items: [String]) -> Self { .list(items.map { Array($0.utf8) }) }

    /// The value as UTF-8 text; nil for sections, lists and invalid UTF-8.
    public var string: String? {
        if case .value(let v) = self { return String(validating: v, as: UTF8.self) }
        return nil
    }
}

extension VICIMessage.Element: ExpressibleByStringLiteral, ExpressibleByArrayLiteral {
    public init(stringLiteral value: String) { self = .value(Array(value.utf8)) }
    public init(arrayLiteral items: String...) { self = .list(items.map { Array($0.utf8) }) }
}

extension VICIMessage: ExpressibleByDictionaryLiteral {
    /// `["child": "net", "timeout": "1000", "remote_ts": ["10.0.0.0/8"]]`; keys must be unique.
    public init(dictionaryLiteral pairs: (String, Element)...) {
        self.init()
        for (key, element) in pairs {
            precondition(self[key] == nil, "VICIMessage literal repeats key \(key)")
            entries.append(Entry(key: key, element: element))
        }
    }
}

extension VICIMessage: CustomStringConvertible {
    /// One-line rendering like swanctl's raw output: `{a=1 s={k=v} l=[x y]}`; non-printable
    /// values show as hex.
    public var description: String {
        var out = "{"
        for (i, e) in entries.enumerated() {
            if i > 0 { out += " " }
            out += e.key + "="
            switch e.element {
            case .value(let v): out += Self.render(v)
            case .section(let s): out += s.description
            case .list(let items): out += "[" + items.map(Self.render).joined(separator: " ") + "]"
            }
        }
        return out + "}"
    }

    private static func render(_ v: [UInt8]) -> String {
        if v.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return String(decoding: v, as: UTF8.self) }
        let hex: [Character] = Array("0123456789abcdef")
        var s = "0x"
        for b in v { s.append(hex[Int(b >> 4)]); s.append(hex[Int(b & 0xF)]) }
        return s
    }
}
