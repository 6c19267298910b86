#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import TernPKI

/// Input, output and date handling shared by the `tern pki` subcommands, with pki's conventions: `--in`
/// absent reads standard input, output goes to standard output (or `--outfile`), `--outform` defaults to DER.
struct PKIInput: ParsableArguments {
    @Option(name: [.customLong("in"), .customShort("i")], help: "Input file (default: standard input).")
    var path: String?

    func read() throws -> [UInt8] {
        if let path {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw PKIFailure("cannot read '\(path)'")
            }
            return [UInt8](data)
        }
        return [UInt8](FileHandle.standardInput.readDataToEndOfFile())
    }
}

struct PKIOutput: ParsableArguments {
    @Option(name: [.customLong("outform"), .customShort("f")], help: "Encoding of the output: der or pem (default: der, as pki).")
    var outform: String = "der"

    @Option(name: .customLong("outfile"), help: "Write to this file instead of standard output.")
    var outfile: String?

    var format: CertificateFormat {
        get throws {
            guard let format = CertificateFormat(rawValue: outform.lowercased()) else {
                throw ValidationError("invalid --outform '\(outform)' (der or pem)")
            }
            return format
        }
    }

    /// Writes the bytes; private keys go to files readable by the owner only.
    func write(_ bytes: [UInt8], secret: Bool = false) throws {
        if let outfile {
            let created = FileManager.default.createFile(atPath: outfile, contents: Data(bytes),
                                                         attributes: secret ? [.posixPermissions: 0o600] : nil)
            guard created else { throw PKIFailure("cannot write '\(outfile)'") }
        } else {
            FileHandle.standardOutput.write(Data(bytes))
        }
    }
}

/// A failure reported as "tern pki: message" with exit status 1, as pki reports its errors.
struct PKIFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Runs a subcommand body, turning library errors into pki-style messages and exit status 1.
func runPKI(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as PKIError {
        FileHandle.standardError.write(Data("tern pki: \(error)\n".utf8))
        throw ExitCode(1)
    } catch let error as PKIFailure {
        FileHandle.standardError.write(Data("tern pki: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

/// pki's validity options: --lifetime in days, or --not-before/--not-after parsed with strptime(3) in local
/// time using --dateform (default "%d.%m.%y %T").
struct PKIValidity: ParsableArguments {
    @Option(name: [.customLong("lifetime"), .customShort("l")], help: "Days the certificate is valid (default: 1095).")
    var lifetime: Int?

    @Option(name: [.customLong("not-before"), .customShort("F")], help: "Date/time the validity starts.")
    var notBefore: String?

    @Option(name: [.customLong("not-after"), .customShort("T")], help: "Date/time the validity ends.")
    var notAfter: String?

    @Option(name: [.customLong("dateform"), .customShort("D")], help: "strptime(3) format of the dates (default: %d.%m.%y %T).")
    var dateform: String?

    func range(defaultDays: Int, now: Date = Date()) throws -> (Date, Date) {
        let days = lifetime ?? defaultDays
        guard days > 0 else { throw ValidationError("invalid --lifetime value") }
        let span = TimeInterval(days) * 86400
        let start = try notBefore.map { try parseDate($0) }
        let end = try notAfter.map { try parseDate($0) }
        switch (start, end) {
        case let (s?, e?): return (s, e)
        case let (s?, nil): return (s, s.addingTimeInterval(span))
        case let (nil, e?): return (e.addingTimeInterval(-span), e)
        case (nil, nil): return (now, now.addingTimeInterval(span))
        }
    }

    func parseDate(_ text: String) throws -> Date {
        var parts = tm()
        let format = dateform ?? "%d.%m.%y %T"
        guard let end = callStrptime(text, format, &parts), end.pointee == 0 else {
            throw ValidationError("invalid --not-before/after datetime '\(text)' (format \(format))")
        }
        parts.tm_isdst = -1
        let seconds = mktime(&parts)
        guard seconds != -1 else { throw ValidationError("invalid --not-before/after datetime '\(text)'") }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }
}

/// Glibc's strptime(3), which Swift's Glibc module does not export (it sits behind _XOPEN_SOURCE).
private typealias StrptimeFunction = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutablePointer<tm>) -> UnsafeMutablePointer<CChar>?
private func callStrptime(_ text: String, _ format: String, _ parts: inout tm) -> UnsafeMutablePointer<CChar>? {
    guard let symbol = dlsym(nil, "strptime") else { return nil }  // RTLD_DEFAULT
    let strptime = unsafeBitCast(symbol, to: StrptimeFunction.self)
    return text.withCString { t in format.withCString { f in strptime(t, f, &parts) } }
}

/// pki's --digest and --rsa-padding, resolved against the signing key.
struct PKISignatureOptions: ParsableArguments {
    @Option(name: [.customLong("digest"), .customShort("g")], help: "Digest: sha256, sha384 or sha512 (default: key-specific).")
    var digest: String?

    @Option(name: [.customLong("rsa-padding"), .customShort("R")], help: "Padding for RSA signatures: pkcs1 or pss (default: pkcs1).")
    var rsaPadding: String?

    func scheme(for key: PKIKeyType) throws -> SignatureScheme {
        var pss = false
        switch rsaPadding?.lowercased() {
        case nil, "pkcs1": break
        case "pss": pss = true
        default: throw ValidationError("invalid RSA padding '\(rsaPadding ?? "")' (pkcs1 or pss)")
        }
        var scheme = SignatureScheme.defaultScheme(for: key, pss: pss)
        if let digest {
            let hash: SignatureScheme.SHA
            switch digest.lowercased() {
            case "sha256": hash = .sha256
            case "sha384": hash = .sha384
            case "sha512": hash = .sha512
            default: throw PKIFailure("--digest \(digest) is not supported (sha256, sha384, sha512)")
            }
            switch scheme {
            case .rsaPKCS1: scheme = .rsaPKCS1(hash)
            case .rsaPSS: scheme = .rsaPSS(hash)
            case .ecdsa: scheme = .ecdsa(hash)
            case .ed25519: break  // Ed25519 hashes internally; pki ignores --digest too.
            }
        }
        return scheme
    }
}

/// Checks a loaded key against pki's `--type` for private key input (priv accepts any).
func checkKeyType(_ key: PrivateKeyBundle, pkiType: String?) throws {
    guard let pkiType = pkiType?.lowercased(), pkiType != "priv" else { return }
    let matches: Bool = switch (pkiType, key.keyType) {
    case ("rsa", .rsa), ("ecdsa", .ecdsa), ("ed25519", .ed25519): true
    case ("rsa", _), ("ecdsa", _), ("ed25519", _): false
    default: throw ValidationError("invalid input type '\(pkiType)'")
    }
    guard matches else { throw PKIFailure("parsing private key failed: expected a \(pkiType) key, found \(key.keyType)") }
}

/// A hex serial as pki takes it ("01:02", "0102" or "0x0102").
func parseHexSerial(_ text: String) throws -> [UInt8] {
    var hex = text.lowercased().replacingOccurrences(of: ":", with: "")
    if hex.hasPrefix("0x") { hex.removeFirst(2) }
    if hex.count % 2 == 1 { hex = "0" + hex }
    var bytes: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        guard let byte = UInt8(hex[index..<next], radix: 16) else { throw ValidationError("invalid hex serial '\(text)'") }
        bytes.append(byte)
        index = next
    }
    let trimmed = Array(bytes.drop(while: { $0 == 0 }))
    guard !trimmed.isEmpty, trimmed.count <= 20 else { throw ValidationError("invalid serial '\(text)' (1 to 20 bytes, not zero)") }
    return trimmed
}

/// A private key in any form pki or OpenSSL writes; an encrypted PKCS#8 key is decrypted with the passphrase in
/// $TERN_PKI_PASSPHRASE (an environment variable, so it appears neither in `ps` nor in shell history).
func loadPrivateKey(_ bytes: [UInt8]) throws -> PrivateKeyBundle {
    try PrivateKeyBundle.load(bytes, passphrase: ProcessInfo.processInfo.environment["TERN_PKI_PASSPHRASE"])
}

/// A public key from anything that holds one; private keys go through `loadPrivateKey` for the passphrase.
func loadPublicKey(_ bytes: [UInt8]) throws -> PublicKeyBundle {
    if (try? recognize(bytes)) == "priv" { return try loadPrivateKey(bytes).publicKey }
    return try PublicKeyBundle.load(bytes)
}
