import SwiftASN1
import Testing
import X509
@testable import TernPKI

@Suite struct DistinguishedNameTests {
    @Test func strongSwanFormRoundTrips() throws {
        for text in ["C=CA, O=kldload, CN=IPsec CA", "CN=x", "C=CH, ST=Zug, L=Zug, O=strongSwan, OU=Test, CN=moon.strongswan.org",
                     "DC=org, DC=example, UID=jdoe, CN=John Doe", "C=CH, CN=carol, E=carol@strongswan.org"] {
            let name = try DNString.parse(text)
            #expect(name.strongSwanDescription == text)
            #expect(try DistinguishedName(der: name.derEncoded) == name)
        }
    }

    @Test func encodingMatchesStrongSwansAtodn() throws {
        // "C=CA, O=kldload, CN=IPsec CA": three single-attribute RDNs, PrintableStrings, as `pki --self` writes them.
        let expected = hex("3032310b3009060355040613024341" + "3110300e060355040a13076b6c646c6f6164" + "311130" + "0f06035504031308" + "4950736563204341")
        #expect(try DNString.parse("C=CA, O=kldload, CN=IPsec CA").derEncoded == expected)
        // Not printable ('@', '_', non-ASCII) becomes UTF8String (tag 0x0C); E is an IA5String (0x16).
        let der = try DNString.parse("CN=a_b@c, O=Zürich, E=x@y.z").derEncoded
        #expect(der.contains(0x0C) && der.contains(0x16))
        #expect(try DNString.parse("CN=a_b@c, O=Zürich, E=x@y.z").strongSwanDescription == "CN=a_b@c, O=Zürich, E=x@y.z")
    }

    @Test func spacingSlashesAndCaseAreTolerated() throws {
        let canonical = try DNString.parse("C=CA, O=kldload, CN=IPsec CA")
        #expect(try DNString.parse("  C = CA,O=kldload ,  CN=IPsec CA  ") == canonical)
        #expect(try DNString.parse("/C=CA/O=kldload/CN=IPsec CA") == canonical)
        #expect(try DNString.parse("c=CA, o=kldload, cn=IPsec CA") == canonical)
        #expect(try DNString.parse("emailAddress=a@b.c") == DNString.parse("E=a@b.c"))
    }

    @Test func badNamesAreRefused() {
        for text in ["", "   ", "CN", "XX=1", "CN=x, foo"] {
            #expect(throws: PKIError(.invalidDistinguishedName, ""), "\(text)") { _ = try DNString.parse(text) }
        }
    }

    @Test func matchingIgnoresCaseAndHonoursWildcards() throws {
        let name = try DNString.parse("C=CH, O=strongSwan, CN=moon.strongswan.org")
        #expect(name.matches(try DNString.parse("C=ch, O=STRONGSWAN, CN=Moon.strongSwan.org")))
        #expect(name.matches(try DNString.parse("C=CH, O=strongSwan, CN=*")))
        #expect(!name.matches(try DNString.parse("C=CH, O=strongSwan, CN=sun.strongswan.org")))
        #expect(!name.matches(try DNString.parse("C=CH, CN=moon.strongswan.org")))
        #expect(!name.matches(try DNString.parse("O=strongSwan, C=CH, CN=moon.strongswan.org")))
    }
}

@Suite struct SubjectAltNameTests {
    @Test func typesAreChosenAsStrongSwanChoosesThem() throws {
        #expect(try SANString.parse("gateway-a.example.com") == .dnsName("gateway-a.example.com"))
        #expect(try SANString.parse("@gateway-a.example.com") == .dnsName("gateway-a.example.com"))
        #expect(try SANString.parse("203.0.113.1") == .ipAddress(ASN1OctetString(contentBytes: [203, 0, 113, 1])))
        #expect(try SANString.parse("2001:db8::1") == .ipAddress(ASN1OctetString(contentBytes: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1])))
        #expect(try SANString.parse("carol@strongswan.org") == .rfc822Name("carol@strongswan.org"))
        #expect(try SANString.parse("dns:203.0.113.1") == .dnsName("203.0.113.1"))
        #expect(try SANString.parse("uri:http://x/y") == .uniformResourceIdentifier("http://x/y"))
        #expect(try SANString.parse("C=CH, CN=x") == .directoryName(try DNString.parse("C=CH, CN=x")))
        #expect(throws: PKIError.self) { _ = try SANString.parse("") }
        #expect(throws: PKIError.self) { _ = try SANString.parse("fe80::zz") }
        #expect(throws: PKIError.self) { _ = try SANString.parse("@#0102") }
        #expect(throws: PKIError.self) { _ = try SANString.parse("ipv4:example.com") }
    }

    @Test func printedAsStrongSwanPrintsThem() throws {
        for text in ["gateway-a.example.com", "203.0.113.1", "2001:db8::1", "carol@strongswan.org", "C=CH, CN=x"] {
            #expect(SANString.format(try SANString.parse(text)) == text)
        }
    }
}
