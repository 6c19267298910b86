// VICI message and packet codec (strongSwan src/libcharon/plugins/vici/README.md).
//
// Transport: every packet travels as  [u32 BE length][packet]  and the length counts the
// packet only; strongSwan refuses lengths over VICI_MESSAGE_SIZE_MAX = 512 KiB.
//
// Packet:    [u8 type] [u8 name length][name]   (named types only)   [message] (types 0, 1, 7)
//
// Message elements, one after another, no overall length (the frame gives it):
//   1 SECTION_START  [1][u8 n][name]              opens a named section
//   2 SECTION_END    [2]                          closes the innermost section
//   3 KEY_VALUE      [3][u8 n][name][u16 BE n][value]
//   4 LIST_START     [4][u8 n][name]              only LIST_ITEM / LIST_END may follow
//   5 LIST_ITEM      [5][u16 BE n][value]
//   6 LIST_END       [6]
//
// Names are ASCII without a terminator; strongSwan accepts only printable ones
// (chunk_printable), and so do we. Values are arbitrary blobs.

enum VICIWire {
    static let sectionStart: UInt8 = 1
    static let sectionEnd: UInt8 = 2
    static let keyValue: UInt8 = 3
    static let listStart: UInt8 = 4
    static let listItem: UInt8 = 5
    static let listEnd: UInt8 = 6

    static let cmdRequest: UInt8 = 0
    static let cmdResponse: UInt8 = 1
    static let cmdUnknown: UInt8 = 2
    static let eventRegister: UInt8 = 3
    static let eventUnregister: UInt8 = 4
    static let eventConfirm: UInt8 = 5
    static let eventUnknown: UInt8 = 6
    static let event: UInt8 = 7

    static func isPrintable(_ b: UInt8) -> Bool { b >= 0x20 && b < 0x7F }
}

extension VICIMessage {
    /// strongSwan's VICI_MESSAGE_SIZE_MAX (vici_socket.h): the largest frame it reads or sends.
    public static let maxSize = 512 * 1024
    /// Deepest section nesting the decoder accepts. strongSwan sets no limit; its deepest real
    /// message (load-conn: connection → local/remote/children → child) is 3 levels.
    public static let maxDepth = 64

    /// The wire encoding. Names longer than 255 bytes and values longer than 65535 bytes
    /// cannot be encoded; building one is a programmer error (check with `validate()` when
    /// the contents come from outside).
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    func encode(into out: inout [UInt8]) {
        for e in entries {
            switch e.element {
            case .value(let v):
                out.append(VICIWire.keyValue)
                Self.appendName(e.key, to: &out)
                Self.appendValue(v, to: &out)
            case .section(let s):
                out.append(VICIWire.sectionStart)
                Self.appendName(e.key, to: &out)
                s.encode(into: &out)
                out.append(VICIWire.sectionEnd)
            case .list(let items):
                out.append(VICIWire.listStart)
                Self.appendName(e.key, to: &out)
                for item in items {
                    out.append(VICIWire.listItem)
                    Self.appendValue(item, to: &out)
                }
                out.append(VICIWire.listEnd)
            }
        }
    }

    static func appendName(_ name: String, to out: inout [UInt8]) {
        let n = name.utf8.count
        precondition(n <= 255, "VICI name longer than 255 bytes")
        out.append(UInt8(n))
        out.append(contentsOf: name.utf8)
    }

    static func appendValue(_ v: [UInt8], to out: inout [UInt8]) {
        precondition(v.count <= 0xFFFF, "VICI value longer than 65535 bytes")
        out.append(UInt8(v.count >> 8))
        out.append(UInt8(v.count & 0xFF))
        out.append(contentsOf: v)
    }

    /// Throws unless this message encodes to bytes that `decode` accepts and that decode back
    /// to an equal message: printable-ASCII names of at most 255 bytes, unique per section,
    /// values of at most 65535 bytes, nesting of at most `maxDepth`, total within `maxSize`.
    public func validate(maxSize: Int = VICIMessage.maxSize) throws(VICIError) {
        var size = 0
        try validate(depth: 0, size: &size)
        if size > maxSize { throw VICIError(.oversized, "\(size) bytes, limit \(maxSize)") }
    }

    private func validate(depth: Int, size: inout Int) throws(VICIError) {
        var seen = Set<String>()
        for e in entries {
            try Self.validateName(e.key)
            guard seen.insert(e.key).inserted else { throw VICIError(.duplicateKey, "'\(e.key)'") }
            size += 2 + e.key.utf8.count
            switch e.element {
            case .value(let v):
                guard v.count <= 0xFFFF else { throw VICIError(.notEncodable, "value of '\(e.key)' is \(v.count) bytes") }
                size += 2 + v.count
            case .section(let s):
                guard depth < Self.maxDepth else { throw VICIError(.nestingTooDeep, "more than \(Self.maxDepth) levels") }
                size += 1
                try s.validate(depth: depth + 1, size: &size)
            case .list(let items):
                size += 1
                for item in items {
                    guard item.count <= 0xFFFF else { throw VICIError(.notEncodable, "item of '\(e.key)' is \(item.count) bytes") }
                    size += 3 + item.count
                }
            }
        }
    }

    static func validateName(_ name: String) throws(VICIError) {
        guard name.utf8.count <= 255 else { throw VICIError(.notEncodable, "name of \(name.utf8.count) bytes") }
        guard name.utf8.allSatisfy(VICIWire.isPrintable) else { throw VICIError(.invalidName, "'\(name)'") }
    }

    /// Decodes a message, rejecting anything strongSwan's parser would reject, plus repeated
    /// names and nesting deeper than `maxDepth`. Never traps on hostile input.
    public static func decode(_ bytes: some Collection<UInt8>, maxSize: Int = VICIMessage.maxSize) throws(VICIError) -> VICIMessage {
        var reader = VICIReader(Array(bytes))
        guard reader.bytes.count <= maxSize else {
            throw VICIError(.oversized, "\(reader.bytes.count) bytes, limit \(maxSize)")
        }
        return try reader.message()
    }
}

/// A bounds-checked cursor; every read either succeeds or throws `.truncated`.
struct VICIReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { offset >= bytes.count }

    mutating func u8() throws(VICIError) -> UInt8 {
        guard offset < bytes.count else { throw VICIError(.truncated, at: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func take(_ n: Int) throws(VICIError) -> ArraySlice<UInt8> {
        guard bytes.count - offset >= n else {
            throw VICIError(.truncated, at: offset, "need \(n) bytes, have \(bytes.count - offset)")
        }
        defer { offset += n }
        return bytes[offset..<offset + n]
    }

    /// [u8 length][printable ASCII]
    mutating func name() throws(VICIError) -> String {
        let start = offset
        let n = Int(try u8())
        let raw = try take(n)
        guard raw.allSatisfy(VICIWire.isPrintable) else { throw VICIError(.invalidName, at: start) }
        return String(decoding: raw, as: UTF8.self)
    }

    /// [u16 BE length][blob]
    mutating func value() throws(VICIError) -> [UInt8] {
        let hi = Int(try u8())
        let lo = Int(try u8())
        return Array(try take(hi << 8 | lo))
    }

    /// The rest of the input as a message (the root section).
    mutating func message() throws(VICIError) -> VICIMessage {
        try section(depth: 0)
    }

    private mutating func section(depth: Int) throws(VICIError) -> VICIMessage {
        var msg = VICIMessage()
        var seen = Set<String>()
        while true {
            if atEnd {
                if depth == 0 { return msg }
                throw VICIError(.unterminatedSection, at: offset)
            }
            let start = offset
            let type = try u8()
            let element: VICIMessage.Element
            let key: String
            switch type {
            case VICIWire.sectionEnd:
                guard depth > 0 else { throw VICIError(.unbalancedSectionEnd, at: start) }
                return msg
            case VICIWire.sectionStart:
                key = try name()
                guard depth < VICIMessage.maxDepth else {
                    throw VICIError(.nestingTooDeep, at: start, "more than \(VICIMessage.maxDepth) levels")
                }
                element = .section(try section(depth: depth + 1))
            case VICIWire.keyValue:
                key = try name()
                element = .value(try value())
            case VICIWire.listStart:
                key = try name()
                element = .list(try listItems())
            case VICIWire.listItem, VICIWire.listEnd:
                throw VICIError(.listItemOutsideList, at: start)
            default:
                throw VICIError(.badElementType, at: start, "type \(type)")
            }
            guard seen.insert(key).inserted else { throw VICIError(.duplicateKey, at: start, "'\(key)'") }
            msg.entries.append(VICIMessage.Entry(key: key, element: element))
        }
    }

    private mutating func listItems() throws(VICIError) -> [[UInt8]] {
        var items: [[UInt8]] = []
        while true {
            guard !atEnd else { throw VICIError(.unterminatedList, at: offset) }
            let start = offset
            switch try u8() {
            case VICIWire.listItem: items.append(try value())
            case VICIWire.listEnd: return items
            case VICIWire.sectionStart, VICIWire.sectionEnd, VICIWire.keyValue, VICIWire.listStart:
                throw VICIError(.elementInList, at: start)
            case let type:
                throw VICIError(.badElementType, at: start, "type \(type)")
            }
        }
    }
}
