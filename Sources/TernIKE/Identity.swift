import TernPKI
import TernWire
import X509

/// An IKE identity (RFC 7296 §3.5) as strongSwan writes it in `id =` and `secrets`:
/// `192.0.2.1`, `2001:db8::1`, `gw.example.com` or `@gw.example.com` (FQDN),
/// `user@example.com` (RFC 822), `@#0a0b` (KEY_ID), `%any`, or a typed prefix
/// (`fqdn:`, `email:`/`userfqdn:`, `keyid:`, `ipv4:`, `ipv6:`).
public enum Identity: Sendable, Hashable, CustomStringConvertible {
    case any
    case ipv4(IPAddress)
    case ipv6(IPAddress)
    case fqdn(String)
    case rfc822(String)
    case keyID([UInt8])
    /// An X.500 distinguished name (ID_DER_ASN1_DN), written as strongSwan does:
    /// `C=CA, O=kldload, CN=gateway-a.example.com`; `CN=*` style wildcards match any value.
    case distinguishedName(DistinguishedName)
    /// Any other ID type, carried as bytes.
    case other(type: UInt8, data: [UInt8])

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public init(parsing text: String) throws(ParseError) {
        let t = text.trimmingSpaces
        if t.isEmpty || t == "%any" || t == "%any6" || t == "*" { self = .any; return }
        if let colon = t.firstIndex(of: ":"), !t.contains("::"), IPAddress(t) == nil {
            let kind = t[..<colon].lowercased(), rest = String(t[t.index(after: colon)...])
            switch kind {
            case "fqdn": self = .fqdn(rest); return
            case "email", "userfqdn", "rfc822": self = .rfc822(rest); return
            case "keyid":
                guard let bytes = Identity.hex(rest.hasPrefix("#") ? String(rest.dropFirst()) : rest) else {
                    throw ParseError(description: "keyid '\(rest)' is not hex")
                }
                self = .keyID(bytes); return
            case "asn1dn":
                do { self = .distinguishedName(try DistinguishedName(strongSwan: rest)) } catch {
                    throw ParseError(description: "'\(rest)' is not a distinguished name: \(error)")
                }
                return
            case "ipv4", "ipv6":
                guard let a = IPAddress(rest) else { throw ParseError(description: "'\(rest)' is not an IP address") }
                self = a.family == .v4 ? .ipv4(a) : .ipv6(a); return
            default: break
            }
        }
        if let a = IPAddress(t) { self = a.family == .v4 ? .ipv4(a) : .ipv6(a); return }
        if t.hasPrefix("@#") {
            guard let bytes = Identity.hex(String(t.dropFirst(2))) else { throw ParseError(description: "'\(t)': KEY_ID must be hex after @#") }
            self = .keyID(bytes); return
        }
        if t.hasPrefix("@") { self = .fqdn(String(t.dropFirst())); return }
        if DNString.looksLikeDN(t) {
            do { self = .distinguishedName(try DistinguishedName(strongSwan: t)) } catch {
                throw ParseError(description: "'\(t)' is not a distinguished name: \(error)")
            }
            return
        }
        if t.contains("@") { self = .rfc822(t); return }
        self = .fqdn(t)
    }

    /// The ID payload contents.
    public var payload: IKEIdentification {
        switch self {
        case .any: IKEIdentification(type: IKEIdentificationType.fqdn.rawValue, data: [])
        case .ipv4(let a): IKEIdentification(type: IKEIdentificationType.ipv4Address.rawValue, data: a.bytes)
        case .ipv6(let a): IKEIdentification(type: IKEIdentificationType.ipv6Address.rawValue, data: a.bytes)
        case .fqdn(let s): IKEIdentification(type: IKEIdentificationType.fqdn.rawValue, data: Array(s.utf8))
        case .rfc822(let s): IKEIdentification(type: IKEIdentificationType.rfc822Address.rawValue, data: Array(s.utf8))
        case .keyID(let b): IKEIdentification(type: IKEIdentificationType.keyID.rawValue, data: b)
        case .distinguishedName(let n): IKEIdentification(type: IKEIdentificationType.derASN1DN.rawValue, data: n.derEncoded)
        case .other(let t, let d): IKEIdentification(type: t, data: d)
        }
    }

    public init(payload p: IKEIdentification) {
        switch IKEIdentificationType(rawValue: p.type) {
        case .ipv4Address where p.data.count == 4: self = IPAddress(bytes: p.data).map { .ipv4($0) } ?? .other(type: p.type, data: p.data)
        case .ipv6Address where p.data.count == 16: self = IPAddress(bytes: p.data).map { .ipv6($0) } ?? .other(type: p.type, data: p.data)
        case .fqdn: self = .fqdn(String(decoding: p.data, as: UTF8.self))
        case .rfc822Address: self = .rfc822(String(decoding: p.data, as: UTF8.self))
        case .keyID: self = .keyID(p.data)
        case .derASN1DN: self = (try? DistinguishedName(der: p.data)).map { .distinguishedName($0) } ?? .other(type: p.type, data: p.data)
        default: self = .other(type: p.type, data: p.data)
        }
    }

    public static func address(_ a: IPAddress) -> Identity { a.family == .v4 ? .ipv4(a) : .ipv6(a) }

    /// Does a peer's identity satisfy this configured one? FQDN and RFC 822 names compare
    /// case-insensitively; `*` wildcards match a label prefix as strongSwan's `*.example.com`.
    public func matches(_ other: Identity) -> Bool {
        switch (self, other) {
        case (.any, _): return true
        case (.fqdn(let a), .fqdn(let b)), (.rfc822(let a), .rfc822(let b)):
            let x = a.lowercased(), y = b.lowercased()
            if x.hasPrefix("*") { return y.hasSuffix(String(x.dropFirst())) }
            return x == y
        case (.distinguishedName(let pattern), .distinguishedName(let name)):
            return name.matches(pattern)
        default: return self == other
        }
    }

    public var description: String {
        switch self {
        case .any: "%any"
        case .ipv4(let a), .ipv6(let a): "\(a)"
        case .fqdn(let s): s
        case .rfc822(let s): s
        case .keyID(let b): "@#" + b.map { String($0, radix: 16).leftPadded(2) }.joined()
        case .distinguishedName(let n): n.strongSwanDescription
        case .other(let t, let d): "ID type \(t) (\(d.count) bytes)"
        }
    }

    static func hex(_ s: String) -> [UInt8]? {
        let chars = Array(s.utf8)
        guard chars.count % 2 == 0, !chars.isEmpty else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < chars.count {
            guard let v = UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(v); i += 2
        }
        return out
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
