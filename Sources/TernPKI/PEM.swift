import Foundation

/// One PEM block: the label between "-----BEGIN " and "-----" and the DER it carries (RFC 7468).
public struct PEMBlock: Sendable, Equatable {
    public var label: String
    public var der: [UInt8]
    /// RFC 1421 headers ("Proc-Type: 4,ENCRYPTED"), which only legacy encrypted keys carry.
    public var headers: [String: String]

    public init(label: String, der: [UInt8], headers: [String: String] = [:]) {
        self.label = label
        self.der = der
        self.headers = headers
    }

    /// The textual form: base64 in 64-character lines, as OpenSSL and strongSwan write it.
    public var encoded: String {
        let base64 = Data(der).base64EncodedString()
        var lines = ["-----BEGIN \(label)-----"]
        var index = base64.startIndex
        while index < base64.endIndex {
            let end = base64.index(index, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex
            lines.append(String(base64[index..<end]))
            index = end
        }
        lines.append("-----END \(label)-----")
        return lines.joined(separator: "\n") + "\n"
    }
}

public enum PEM {
    /// True when the bytes look like text with a PEM block rather than DER.
    public static func looksLikePEM(_ bytes: [UInt8]) -> Bool {
        guard let first = bytes.first, first != 0x30 else { return false }
        return String(decoding: bytes.prefix(64 * 1024), as: UTF8.self).contains("-----BEGIN ")
    }

    /// Every block in the text, in order; text outside blocks (OpenSSL's "Bag Attributes", comments) is skipped.
    public static func decodeAll(_ text: String) throws(PKIError) -> [PEMBlock] {
        var blocks: [PEMBlock] = []
        var label: String?
        var headers: [String: String] = [:]
        var body = ""
        var inHeaders = false
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if let current = label {
                if line.hasPrefix("-----END ") {
                    guard line == "-----END \(current)-----" else {
                        throw PKIError(.malformedPEM, "PEM block BEGIN \(current) ends with \(line)")
                    }
                    guard let data = Data(base64Encoded: body) else {
                        throw PKIError(.malformedPEM, "PEM block \(current) has invalid base64")
                    }
                    blocks.append(PEMBlock(label: current, der: [UInt8](data), headers: headers))
                    label = nil
                    continue
                }
                if inHeaders, let colon = line.firstIndex(of: ":"), body.isEmpty {
                    headers[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    continue
                }
                inHeaders = false
                body += line
            } else if line.hasPrefix("-----BEGIN "), line.hasSuffix("-----"), line.count > 16 {
                label = String(line.dropFirst(11).dropLast(5))
                headers = [:]
                body = ""
                inHeaders = true
            }
        }
        if let current = label {
            throw PKIError(.malformedPEM, "PEM block BEGIN \(current) has no END line")
        }
        return blocks
    }

    /// The DER of each object in `bytes`: every PEM block when it is PEM text, else the bytes as one DER object.
    /// `labels` restricts which PEM blocks count (an empty set takes them all).
    public static func derObjects(in bytes: [UInt8], labels: Set<String> = []) throws(PKIError) -> [(label: String?, der: [UInt8])] {
        guard looksLikePEM(bytes) else { return [(nil, bytes)] }
        let blocks = try decodeAll(String(decoding: bytes, as: UTF8.self))
        let wanted = labels.isEmpty ? blocks : blocks.filter { labels.contains($0.label) }
        if wanted.isEmpty {
            let found = blocks.map(\.label).joined(separator: ", ")
            throw PKIError(.malformedPEM, labels.isEmpty ? "no PEM block found"
                           : "no PEM block labelled \(labels.sorted().joined(separator: " or ")) (found: \(found.isEmpty ? "none" : found))")
        }
        return wanted.map { ($0.label, $0.der) }
    }
}
