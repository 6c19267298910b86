import Foundation
import SwiftASN1

/// Small DER building blocks for the structures swift-certificates does not build (CRLs, SEC1 and PKCS#8
/// keys, SubjectPublicKeyInfo, RFC 7427 AlgorithmIdentifiers). Each returns a complete TLV.
enum DERWriter {
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var out = [tag]
        let length = content.count
        if length < 0x80 {
            out.append(UInt8(length))
        } else {
            var lengthBytes: [UInt8] = []
            var remaining = length
            while remaining > 0 {
                lengthBytes.insert(UInt8(remaining & 0xFF), at: 0)
                remaining >>= 8
            }
            out.append(0x80 | UInt8(lengthBytes.count))
            out += lengthBytes
        }
        return out + content
    }

    static func sequence(_ parts: [UInt8]...) -> [UInt8] { tlv(0x30, parts.flatMap { $0 }) }
    static func sequence(of parts: [[UInt8]]) -> [UInt8] { tlv(0x30, parts.flatMap { $0 }) }
    static func set(_ parts: [UInt8]...) -> [UInt8] { tlv(0x31, parts.flatMap { $0 }) }
    static func octetString(_ bytes: [UInt8]) -> [UInt8] { tlv(0x04, bytes) }
    /// A BIT STRING with no unused bits (keys, signatures, whole-byte flags).
    static func bitString(_ bytes: [UInt8]) -> [UInt8] { tlv(0x03, [0] + bytes) }
    static let null: [UInt8] = [0x05, 0x00]
    static func boolean(_ value: Bool) -> [UInt8] { [0x01, 0x01, value ? 0xFF : 0x00] }
    static func ia5String(_ text: String) -> [UInt8] { tlv(0x16, Array(text.utf8)) }
    static func utf8String(_ text: String) -> [UInt8] { tlv(0x0C, Array(text.utf8)) }
    /// [n] EXPLICIT or a constructed context tag.
    static func context(_ number: UInt8, constructed: Bool = true, _ content: [UInt8]) -> [UInt8] {
        tlv(0x80 | (constructed ? 0x20 : 0) | number, content)
    }

    /// A non-negative INTEGER from big-endian magnitude bytes (leading zeros dropped, one added for the sign).
    static func unsignedInteger(_ magnitude: [UInt8]) -> [UInt8] {
        var bytes = Array(magnitude.drop(while: { $0 == 0 }))
        if bytes.isEmpty { bytes = [0] }
        if bytes[0] & 0x80 != 0 { bytes.insert(0, at: 0) }
        return tlv(0x02, bytes)
    }

    static func integer(_ value: Int) -> [UInt8] {
        precondition(value >= 0, "only non-negative INTEGERs are built here")
        var bytes: [UInt8] = []
        var remaining = value
        repeat {
            bytes.insert(UInt8(remaining & 0xFF), at: 0)
            remaining >>= 8
        } while remaining > 0
        return unsignedInteger(bytes)
    }

    static func enumerated(_ value: UInt8) -> [UInt8] { [0x0A, 0x01, value] }

    static func oid(_ oid: ASN1ObjectIdentifier) -> [UInt8] {
        var serializer = DER.Serializer()
        // Serializing an OID held in memory cannot fail.
        try? serializer.serialize(oid)
        return serializer.serializedBytes
    }

    static func algorithmIdentifier(_ algorithm: ASN1ObjectIdentifier, parameters: [UInt8]? = nil) -> [UInt8] {
        sequence(oid(algorithm), parameters ?? [])
    }

    /// RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on, always in UTC with seconds.
    static func time(_ date: Date) -> [UInt8] {
        let c = Calendar.utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let year = c.year ?? 1970
        func two(_ v: Int?) -> String { String(format: "%02d", v ?? 0) }
        let rest = two(c.month) + two(c.day) + two(c.hour) + two(c.minute) + two(c.second) + "Z"
        if (1950...2049).contains(year) {
            return tlv(0x17, Array((two(year % 100) + rest).utf8))
        }
        return tlv(0x18, Array((String(format: "%04d", year) + rest).utf8))
    }
}

extension Calendar {
    static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0)!
        return calendar
    }()
}

/// Reading helpers over SwiftASN1's parsed nodes that turn every surprise into a PKIError.
extension ASN1Node {
    func children(_ what: String) throws(PKIError) -> [ASN1Node] {
        guard case .constructed(let nodes) = content else {
            throw PKIError(.malformedDER, "\(what): expected a constructed value")
        }
        return Array(nodes)
    }

    func primitive(_ what: String) throws(PKIError) -> ArraySlice<UInt8> {
        guard case .primitive(let bytes) = content else {
            throw PKIError(.malformedDER, "\(what): expected a primitive value")
        }
        return bytes
    }

    func expect(_ identifier: ASN1Identifier, _ what: String) throws(PKIError) {
        guard self.identifier == identifier else {
            throw PKIError(.malformedDER, "\(what): unexpected tag \(self.identifier)")
        }
    }

    func sequenceChildren(_ what: String) throws(PKIError) -> [ASN1Node] {
        try expect(.sequence, what)
        return try children(what)
    }

    func objectIdentifier(_ what: String) throws(PKIError) -> ASN1ObjectIdentifier {
        do { return try ASN1ObjectIdentifier(derEncoded: self) } catch {
            throw PKIError(.malformedDER, "\(what): not an OBJECT IDENTIFIER")
        }
    }

    func octetStringBytes(_ what: String) throws(PKIError) -> [UInt8] {
        try expect(.octetString, what)
        return Array(try primitive(what))
    }

    /// The bytes of a BIT STRING that has no unused bits (keys and signatures).
    func bitStringBytes(_ what: String) throws(PKIError) -> [UInt8] {
        try expect(.bitString, what)
        let raw = try primitive(what)
        guard let unused = raw.first, unused == 0 else {
            throw PKIError(.malformedDER, "\(what): BIT STRING with unused bits")
        }
        return Array(raw.dropFirst())
    }

    /// An INTEGER's magnitude without sign padding; negative values are rejected.
    func unsignedIntegerBytes(_ what: String) throws(PKIError) -> [UInt8] {
        try expect(.integer, what)
        let raw = try primitive(what)
        guard let first = raw.first, first & 0x80 == 0 else {
            throw PKIError(.malformedDER, "\(what): negative or empty INTEGER")
        }
        let trimmed = Array(raw.drop(while: { $0 == 0 }))
        return trimmed.isEmpty ? [0] : trimmed
    }

    func smallInteger(_ what: String) throws(PKIError) -> Int {
        let bytes = try unsignedIntegerBytes(what)
        guard bytes.count <= 4 else { throw PKIError(.malformedDER, "\(what): INTEGER too large") }
        return bytes.reduce(0) { $0 << 8 | Int($1) }
    }

    var encoded: [UInt8] { Array(encodedBytes) }
}

func parseDER(_ bytes: [UInt8], _ what: String) throws(PKIError) -> ASN1Node {
    do { return try DER.parse(bytes) } catch {
        throw PKIError(.malformedDER, "\(what): not valid DER (\(error))")
    }
}

extension ASN1Identifier {
    static func context(_ number: UInt) -> ASN1Identifier {
        ASN1Identifier(tagWithNumber: number, tagClass: .contextSpecific)
    }
}

/// Colon-separated lowercase hex, as strongSwan prints key identifiers and serials ("%#B").
func colonHex(_ bytes: some Collection<UInt8>) -> String {
    bytes.map { String(format: "%02x", $0) }.joined(separator: ":")
}
