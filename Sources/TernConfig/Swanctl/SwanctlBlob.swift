import Foundation

/// Inline data in swanctl.conf where a file name could stand (`certs`, `cacert`, secrets sent
/// as-is): `0x…` hex or `0s…` base64, as swanctl's load_conns/load_creds accept it.
public enum SwanctlBlob {
    /// The bytes, or nil when `text` is not a blob (or not a valid one).
    public static func decode(_ text: String) -> [UInt8]? {
        let lower = text.lowercased()
        if lower.hasPrefix("0x") {
            let hex = Array(text.utf8.dropFirst(2))
            guard !hex.isEmpty, hex.count % 2 == 0 else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(hex.count / 2)
            var i = 0
            while i < hex.count {
                guard let b = UInt8(String(decoding: hex[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
                out.append(b)
                i += 2
            }
            return out
        }
        if lower.hasPrefix("0s") { return Data(base64Encoded: String(text.dropFirst(2))).map(Array.init) }
        return nil
    }
}
