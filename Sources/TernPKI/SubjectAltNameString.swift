#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SwiftASN1
import X509

/// strongSwan's identity strings as `--san` takes them (identification_create_from_string): "203.0.113.1" and
/// "2001:db8::1" are IP addresses, "user@example.com" an email address, "@host" or "host.example.com" a DNS
/// name, "C=CA, CN=x" a directory name; the prefixes "dns:", "fqdn:", "email:", "rfc822:", "ipv4:", "ipv6:"
/// and "uri:" force a type.
public enum SANString {
    public static func parse(_ text: String) throws(PKIError) -> GeneralName {
        let prefixes: [(String, (String) throws(PKIError) -> GeneralName)] = [
            ("dns:", { .dnsName($0) }), ("fqdn:", { .dnsName($0) }),
            ("email:", { .rfc822Name($0) }), ("rfc822:", { .rfc822Name($0) }),
            ("ipv4:", { (s) throws(PKIError) in try ip(s, family: AF_INET) }),
            ("ipv6:", { (s) throws(PKIError) in try ip(s, family: AF_INET6) }),
            ("uri:", { .uniformResourceIdentifier($0) }),
            ("asn1dn:", { (s) throws(PKIError) in .directoryName(try DNString.parse(s)) }),
        ]
        for (prefix, make) in prefixes where text.lowercased().hasPrefix(prefix) {
            let rest = String(text.dropFirst(prefix.count))
            guard !rest.isEmpty else { throw PKIError(.invalidIdentity, "empty subjectAltName after '\(prefix)'") }
            return try make(rest)
        }
        guard !text.isEmpty else { throw PKIError(.invalidIdentity, "empty subjectAltName") }
        if DNString.looksLikeDN(text) {
            return .directoryName(try DNString.parse(text))
        }
        if !text.contains("@") {
            if !text.contains(":") {
                if let address = ipBytes(text, family: AF_INET) { return .ipAddress(ASN1OctetString(contentBytes: address[...])) }
                return .dnsName(text)
            }
            if let address = ipBytes(text, family: AF_INET6) { return .ipAddress(ASN1OctetString(contentBytes: address[...])) }
            throw PKIError(.invalidIdentity, "'\(text)' is neither an IPv6 address nor a name")
        }
        if text.hasPrefix("@") {
            let name = text.dropFirst()
            guard !name.isEmpty, !name.hasPrefix("#"), !name.hasPrefix("@") else {
                throw PKIError(.invalidIdentity, "'\(text)' cannot be a subjectAltName (key IDs and user FQDNs are not names)")
            }
            return .dnsName(String(name))
        }
        return .rfc822Name(text)
    }

    static func ip(_ text: String, family: Int32) throws(PKIError) -> GeneralName {
        guard let bytes = ipBytes(text, family: family) else {
            throw PKIError(.invalidIdentity, "'\(text)' is not an IPv\(family == AF_INET ? 4 : 6) address")
        }
        return .ipAddress(ASN1OctetString(contentBytes: bytes[...]))
    }

    static func ipBytes(_ text: String, family: Int32) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: family == AF_INET ? 4 : 16)
        let ok = buffer.withUnsafeMutableBytes { inet_pton(family, text, $0.baseAddress) }
        return ok == 1 ? buffer : nil
    }

    /// strongSwan's printed form of a name ("%Y"): the bare DNS name, email, address or DN.
    public static func format(_ name: GeneralName) -> String {
        switch name {
        case .dnsName(let s), .rfc822Name(let s), .uniformResourceIdentifier(let s): return s
        case .directoryName(let dn): return dn.strongSwanDescription
        case .ipAddress(let octets):
            let bytes = Array(octets.bytes)
            var text = [CChar](repeating: 0, count: 64)
            let family = bytes.count == 4 ? AF_INET : bytes.count == 16 ? AF_INET6 : -1
            guard family != -1, bytes.withUnsafeBytes({ inet_ntop(family, $0.baseAddress, &text, 64) }) != nil else {
                return "(\(bytes.count)-byte address)"
            }
            return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        default:
            return "\(name)"
        }
    }
}
