import SwiftASN1
import X509

/// strongSwan's textual distinguished names: "C=CA, O=kldload, CN=IPsec CA" (or "/C=CA/O=kldload/CN=x", the
/// OpenSSL -subject style, when the text starts with a slash). Each "KEY=value" becomes one RDN in the order
/// written; values are PrintableString when they fit, else UTF8String (IA5String for E/emailAddress), as
/// libstrongswan's atodn() encodes them, so names made here compare byte for byte with pki's.
public enum DNString {
    struct AttributeName: Sendable {
        let names: [String]          // the first is what printing uses
        let oid: ASN1ObjectIdentifier
        let ia5: Bool
    }

    static let attributes: [AttributeName] = [
        .init(names: ["CN"], oid: [2, 5, 4, 3], ia5: false),
        .init(names: ["SN"], oid: [2, 5, 4, 4], ia5: false),
        .init(names: ["serialNumber"], oid: [2, 5, 4, 5], ia5: false),
        .init(names: ["C"], oid: [2, 5, 4, 6], ia5: false),
        .init(names: ["L"], oid: [2, 5, 4, 7], ia5: false),
        .init(names: ["ST"], oid: [2, 5, 4, 8], ia5: false),
        .init(names: ["STREET"], oid: [2, 5, 4, 9], ia5: false),
        .init(names: ["O"], oid: [2, 5, 4, 10], ia5: false),
        .init(names: ["OU"], oid: [2, 5, 4, 11], ia5: false),
        .init(names: ["T"], oid: [2, 5, 4, 12], ia5: false),
        .init(names: ["D"], oid: [2, 5, 4, 13], ia5: false),
        .init(names: ["postalAddress"], oid: [2, 5, 4, 16], ia5: false),
        .init(names: ["postalCode"], oid: [2, 5, 4, 17], ia5: false),
        .init(names: ["N"], oid: [2, 5, 4, 41], ia5: false),
        .init(names: ["G"], oid: [2, 5, 4, 42], ia5: false),
        .init(names: ["I"], oid: [2, 5, 4, 43], ia5: false),
        .init(names: ["ID"], oid: [2, 5, 4, 45], ia5: false),
        .init(names: ["dnQualifier"], oid: [2, 5, 4, 46], ia5: false),
        .init(names: ["dmdName"], oid: [2, 5, 4, 54], ia5: false),
        .init(names: ["pseudonym"], oid: [2, 5, 4, 65], ia5: false),
        .init(names: ["UID"], oid: [0, 9, 2342, 19200300, 100, 1, 1], ia5: false),
        .init(names: ["DC"], oid: [0, 9, 2342, 19200300, 100, 1, 25], ia5: false),
        .init(names: ["ND"], oid: [0, 2, 262, 1, 10, 7, 20], ia5: false),
        .init(names: ["E", "Email", "emailAddress"], oid: [1, 2, 840, 113549, 1, 9, 1], ia5: true),
        .init(names: ["unstructuredName", "UN"], oid: [1, 2, 840, 113549, 1, 9, 2], ia5: true),
        .init(names: ["unstructuredAddress", "UA"], oid: [1, 2, 840, 113549, 1, 9, 8], ia5: false),
        .init(names: ["employeeNumber", "EN"], oid: [2, 16, 840, 1, 113730, 3, 1, 3], ia5: false),
    ]

    static func attribute(named name: Substring) -> AttributeName? {
        attributes.first { $0.names.contains { $0.caseInsensitiveCompare(name) == .orderedSame } }
    }

    /// X.680 PrintableString characters, as asn1_is_printablestring() checks them.
    static func isPrintable(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { s in
            switch s {
            case "A"..."Z", "a"..."z", "0"..."9", " ", "'", "(", ")", "+", ",", "-", ".", "/", ":", "=", "?": true
            default: false
            }
        }
    }

    /// Parses strongSwan's form. Throws for an unknown attribute name, a missing "=", or an empty name.
    public static func parse(_ text: String) throws(PKIError) -> DistinguishedName {
        let trimmed = text.drop(while: { $0 == " " })
        let separator: Character = trimmed.first == "/" ? "/" : ","
        var rdns: [RelativeDistinguishedName] = []
        for part in trimmed.split(separator: separator, omittingEmptySubsequences: true) {
            let item = part.drop(while: { $0 == " " })
            if item.isEmpty { continue }
            guard let equals = item.firstIndex(of: "=") else {
                throw PKIError(.invalidDistinguishedName, "'\(item)' in DN '\(text)' has no '='")
            }
            let key = item[..<equals].trimmingSuffix(" ")
            guard let attribute = attribute(named: key) else {
                throw PKIError(.invalidDistinguishedName, "unknown attribute '\(key)' in DN '\(text)' (CN, C, O, OU, L, ST, E, DC, ...)")
            }
            let value = String(item[item.index(after: equals)...].drop(while: { $0 == " " || $0 == "=" }).trimmingSuffix(" "))
            let attributeValue: RelativeDistinguishedName.Attribute.Value
            do {
                if attribute.ia5, value.unicodeScalars.allSatisfy(\.isASCII) {
                    attributeValue = try .init(ia5String: value)
                } else if isPrintable(value) {
                    attributeValue = try .init(printableString: value)
                } else {
                    attributeValue = .init(utf8String: value)
                }
            } catch {
                throw PKIError(.invalidDistinguishedName, "value '\(value)' in DN '\(text)': \(error)")
            }
            rdns.append(RelativeDistinguishedName(.init(type: attribute.oid, value: attributeValue)))
        }
        guard !rdns.isEmpty else {
            throw PKIError(.invalidDistinguishedName, "'\(text)' is not a distinguished name (expected e.g. \"C=CA, O=kldload, CN=x\")")
        }
        return DistinguishedName(rdns)
    }

    /// True when the text is a DN rather than another identity (strongSwan: it contains '=').
    public static func looksLikeDN(_ text: String) -> Bool { text.contains("=") }

    /// strongSwan's printed form: "C=CA, O=kldload, CN=IPsec CA"; bytes that are not printable become '?'.
    public static func format(_ name: DistinguishedName) -> String {
        var parts: [String] = []
        for rdn in name {
            for attribute in rdn {
                let key = attributes.first { $0.oid == attribute.type }?.names.first ?? attribute.type.description
                parts.append("\(key)=\(valueText(attribute.value))")
            }
        }
        return parts.joined(separator: ", ")
    }

    static func valueText(_ value: RelativeDistinguishedName.Attribute.Value) -> String {
        let text: String
        if let string = String(value) {
            text = string
        } else {
            // T61String, BMPString, ...: show the content bytes that are printable ASCII.
            var serializer = DER.Serializer()
            let any = ASN1Any(value)
            try? serializer.serialize(any)
            if let node = try? DER.parse(serializer.serializedBytes), case .primitive(let bytes) = node.content {
                text = String(decoding: bytes, as: UTF8.self)
            } else {
                text = ""
            }
        }
        return String(text.unicodeScalars.map { $0.value >= 0x20 && $0.value != 0x7F ? Character($0) : "?" })
    }

    /// strongSwan's DN matching (identification_t matches): the same attributes in the same order, values equal
    /// ignoring case; a pattern value of "*" matches any value of that attribute.
    public static func matches(_ name: DistinguishedName, pattern: DistinguishedName) -> Bool {
        let left = name.flatMap { Array($0) }
        let right = pattern.flatMap { Array($0) }
        guard left.count == right.count else { return false }
        for (a, p) in zip(left, right) {
            guard a.type == p.type else { return false }
            let patternText = valueText(p.value)
            if patternText == "*" { continue }
            guard valueText(a.value).caseInsensitiveCompare(patternText) == .orderedSame else { return false }
        }
        return true
    }
}

extension DistinguishedName {
    /// Parses strongSwan's "C=CA, O=kldload, CN=x" form (see `DNString.parse`).
    public init(strongSwan text: String) throws(PKIError) {
        self = try DNString.parse(text)
    }

    /// strongSwan's printed form, as `pki --print` and swanctl show it.
    public var strongSwanDescription: String { DNString.format(self) }

    /// strongSwan's DN match: equal attributes in order, values case-insensitive, "*" in `pattern` a wildcard.
    public func matches(_ pattern: DistinguishedName) -> Bool { DNString.matches(self, pattern: pattern) }

    /// The DER encoding (what IKEv2 ID_DER_ASN1_DN carries).
    public var derEncoded: [UInt8] {
        var serializer = DER.Serializer()
        try? serializer.serialize(self)
        return serializer.serializedBytes
    }

    /// Parses a DER Name (an ID_DER_ASN1_DN payload, for example).
    public init(der: [UInt8]) throws(PKIError) {
        let node = try parseDER(der, "distinguished name")
        do { self = try DistinguishedName(derEncoded: node) } catch {
            throw PKIError(.malformedDER, "not a DER distinguished name: \(error)")
        }
    }
}

extension Substring {
    func trimmingSuffix(_ character: Character) -> Substring {
        var result = self
        while result.last == character { result = result.dropLast() }
        return result
    }
}
