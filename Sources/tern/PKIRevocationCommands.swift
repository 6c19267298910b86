import ArgumentParser
import Foundation
import TernPKI
import X509

extension PKI {
    /// `pki --signcrl`. Its options are read in order by hand because, as in pki, --reason and --date apply to
    /// the --cert or --serial that follows them.
    struct SignCRL: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "signcrl",
            abstract: "Issue a CRL signed by a CA (pki --signcrl).",
            discussion: """
            Options (as pki's): --cacert FILE --cakey FILE [--lifetime DAYS (15)] [--this-update DATE] [--next-update DATE]
              [--dateform FMT] [--lastcrl FILE] [--crluri URI]+ [[--reason R] [--date UNIXTIME] --cert FILE|--serial HEX]+
              [--digest sha256|sha384|sha512] [--rsa-padding pkcs1|pss] [--outform der|pem] [--outfile FILE]
            Reasons: key-compromise, ca-compromise, affiliation-changed, superseded, cessation-of-operation,
            certificate-hold. --reason and --date apply to the next --cert/--serial.
            """)

        @Argument(parsing: .captureForPassthrough, help: "pki --signcrl options (see above).")
        var arguments: [String] = []

        func run() throws {
            if arguments.contains("--help") || arguments.contains("-h") {
                print(PKI.SignCRL.helpMessage())
                return
            }
            try runPKI {
                var options: [String: String] = [:]
                var crlURIs: [String] = []
                var revoked: [RevokedCertificate] = []
                var reason = CRLReason.unspecified
                var date = Date()
                var index = 0
                let takesValue = ["cacert", "cakey", "lifetime", "this-update", "next-update", "dateform", "lastcrl", "basecrl",
                                  "crluri", "cert", "serial", "reason", "date", "digest", "rsa-padding", "outform", "outfile",
                                  "critical", "cakeyid"]
                let shortNames = ["c": "cacert", "k": "cakey", "l": "lifetime", "F": "this-update", "T": "next-update",
                                  "D": "dateform", "a": "lastcrl", "b": "basecrl", "u": "crluri", "z": "cert", "s": "serial",
                                  "r": "reason", "d": "date", "g": "digest", "R": "rsa-padding", "f": "outform", "X": "critical",
                                  "x": "cakeyid"]
                while index < arguments.count {
                    var name = arguments[index]
                    var value: String?
                    if name.hasPrefix("--") {
                        name.removeFirst(2)
                        if let equals = name.firstIndex(of: "=") {
                            value = String(name[name.index(after: equals)...])
                            name = String(name[..<equals])
                        }
                    } else if name.hasPrefix("-"), let long = shortNames[String(name.dropFirst())] {
                        name = long
                    } else {
                        throw ValidationError("unexpected argument '\(name)' for signcrl")
                    }
                    guard takesValue.contains(name) else { throw ValidationError("invalid --signcrl option '--\(name)'") }
                    if value == nil {
                        index += 1
                        guard index < arguments.count else { throw ValidationError("--\(name) needs a value") }
                        value = arguments[index]
                    }
                    index += 1
                    let argument = value ?? ""
                    switch name {
                    case "crluri": crlURIs.append(argument)
                    case "reason": reason = try CRLReason(pkiName: argument)
                    case "date":
                        guard let seconds = TimeInterval(argument), seconds > 0 else { throw ValidationError("invalid date '\(argument)'") }
                        date = Date(timeIntervalSince1970: seconds)
                    case "cert":
                        let certificate = try CertificateFile.loadOne(try readFile(argument))
                        revoked.append(RevokedCertificate(serial: Array(certificate.serialNumber.bytes), date: date, reason: reason))
                        reason = .unspecified
                        date = Date()
                    case "serial":
                        revoked.append(RevokedCertificate(serial: try parseHexSerial(argument), date: date, reason: reason))
                        reason = .unspecified
                        date = Date()
                    case "basecrl", "critical", "cakeyid":
                        throw PKIFailure("--\(name) is not supported by tern pki")
                    default: options[name] = argument
                    }
                }
                guard let cacert = options["cacert"] else { throw ValidationError("--cacert is required") }
                guard let cakey = options["cakey"] else { throw ValidationError("--cakey is required") }
                let caCertificate = try CertificateFile.loadOne(try readFile(cacert))
                guard caCertificate.isCA || caCertificate.pkiFlags.contains("CRLSign") else {
                    throw PKIFailure("CA certificate misses CA basicConstraint / CRLSign keyUsage")
                }
                let caKey = try loadPrivateKey(try readFile(cakey))
                var crlNumber: [UInt8] = [1]
                if let lastPath = options["lastcrl"] {
                    guard let last = try CRL.load(try readFile(lastPath)).first else { throw PKIFailure("loading lastUpdate CRL failed") }
                    let known = Set(revoked.map(\.serial))
                    revoked += last.revoked.filter { !known.contains($0.serial) }
                    crlNumber = increment(last.crlNumber ?? [0])
                }
                var validity = PKIValidity()
                validity.lifetime = try options["lifetime"].map { value in
                    guard let days = Int(value) else { throw ValidationError("invalid --lifetime value") }
                    return days
                }
                validity.notBefore = options["this-update"]
                validity.notAfter = options["next-update"]
                validity.dateform = options["dateform"]
                let (thisUpdate, nextUpdate) = try validity.range(defaultDays: 15)
                var signature = PKISignatureOptions()
                signature.digest = options["digest"]
                signature.rsaPadding = options["rsa-padding"]
                var output = PKIOutput()
                output.outform = options["outform"] ?? "der"
                output.outfile = options["outfile"]
                let crl = try CRL.sign(caCertificate: caCertificate, caKey: caKey, thisUpdate: thisUpdate, nextUpdate: nextUpdate,
                                       revoked: revoked, crlNumber: crlNumber, freshestCRLURIs: crlURIs,
                                       scheme: try signature.scheme(for: caKey.keyType))
                try output.write(crl.encoded(try output.format))
            }
        }

        /// Big-endian increment, growing by a byte on overflow (the next CRL number).
        func increment(_ number: [UInt8]) -> [UInt8] {
            var bytes = number.isEmpty ? [0] : number
            for i in stride(from: bytes.count - 1, through: 0, by: -1) {
                if bytes[i] == 0xFF { bytes[i] = 0 } else { bytes[i] += 1; return bytes }
            }
            return [1] + bytes
        }
    }

    /// `pki --verify`: the same messages and exit codes as pki 5.9.8 shows in practice: 0 "certificate trusted,
    /// lifetimes valid", 1 "certificate untrusted" (also for expired and revoked certificates, whose reason tern
    /// adds on standard error). Every --cacert is a trust anchor, as in pki; without one the certificate must be
    /// self-signed.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Verify a certificate against CA certificates and CRLs (pki --verify).")
        @OptionGroup var input: PKIInput
        @Option(name: [.customLong("cacert"), .customShort("c")], help: "CA certificate file or directory (repeatable).")
        var cacert: [String] = []
        @Option(name: [.customLong("crl"), .customShort("l")], help: "CRL file or directory (repeatable).")
        var crl: [String] = []
        @Flag(name: [.customLong("online"), .customShort("o")], help: "Report revocation status (CRLs are not fetched).")
        var online = false

        func run() throws {
            var trusted = false
            try runPKI {
                let certificate = try CertificateFile.loadOne(try input.read())
                var roots: [Certificate] = []
                for path in cacert { roots += try loadAll(path) { try CertificateFile.load($0) } }
                var crls: [CRL] = []
                for path in crl { crls += try loadAll(path) { try CRL.load($0) } }
                if cacert.isEmpty { roots = [certificate] }
                let validator = ChainValidator(trustedRoots: roots, crls: crls)
                var message: String
                switch validator.validate(leaf: certificate) {
                case .success(let chain):
                    trusted = true
                    message = "certificate trusted, lifetimes valid"
                    if online || !crl.isEmpty {
                        let issuer = chain.count > 1 ? chain[1] : certificate
                        message += crls.contains { $0.issuer == issuer.subject } ? ", certificate not revoked" : ", no revocation information"
                    }
                case .failure(let failure):
                    // pki 5.9.8 reports expired and revoked certificates as untrusted too (its credential manager
                    // checks lifetimes and CRLs while it builds the chain); the reason goes to standard error.
                    FileHandle.standardError.write(Data("tern pki: \(failure)\n".utf8))
                    message = "certificate untrusted"
                }
                print(message)
            }
            if !trusted { throw ExitCode(1) }
        }

        /// A file, or every regular file of a directory (unreadable ones skipped, as pki does).
        func loadAll<T>(_ path: String, _ parse: ([UInt8]) throws -> [T]) throws -> [T] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw PKIFailure("failed to access '\(path)'")
            }
            guard isDirectory.boolValue else { return try parse(try readFile(path)) }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            return names.sorted().flatMap { name in (try? parse(try readFile(path + "/" + name))) ?? [] }
        }
    }
}
