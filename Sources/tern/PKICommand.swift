import ArgumentParser
import Foundation
import TernPKI
import X509

/// `tern pki`: strongSwan pki's key and certificate commands, option for option. Both spellings work:
/// `tern pki gen --type rsa` and pki's `tern pki --gen --type rsa` (main.swift rewrites the latter).
struct PKI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pki",
        abstract: "Keys, certificate requests, certificates and CRLs, interchangeable with strongSwan's pki and OpenSSL.",
        discussion: """
        pki's spelling works too: `tern pki --gen --type rsa --size 4096 --outform pem > ca-key.pem`.
        Output goes to standard output (or --outfile); --in absent reads standard input; --outform defaults to der.
        Example (a CA and a gateway certificate):
          tern pki --gen --type rsa --size 4096 --outform pem > ca-key.pem
          tern pki --self --ca --lifetime 3650 --in ca-key.pem --dn "C=CA, O=kldload, CN=IPsec CA" --outform pem > ca.pem
          tern pki --gen --type rsa --size 2048 --outform pem > gw-key.pem
          tern pki --req --type rsa --in gw-key.pem --dn "C=CA, O=kldload, CN=gw.example.com" --san gw.example.com --outform pem > gw-req.pem
          tern pki --issue --cacert ca.pem --cakey ca-key.pem --in gw-req.pem --lifetime 365 --outform pem > gw.pem
        """,
        subcommands: [Gen.self, SelfSign.self, Req.self, Issue.self, SignCRL.self, Print.self, Pub.self, Verify.self, KeyID.self])

    /// pki's command options, in the order `pki --help` lists them, mapped to subcommand names.
    static let pkiCommands = ["--gen": "gen", "--self": "self", "--req": "req", "--issue": "issue", "--signcrl": "signcrl",
                              "--print": "print", "--pub": "pub", "--verify": "verify", "--keyid": "keyid"]

    // MARK: gen

    struct Gen: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Generate a new private key (pki --gen).")
        @Option(name: [.customLong("type"), .customShort("t")], help: "rsa, ecdsa or ed25519 (default: rsa).")
        var type = "rsa"
        @Option(name: [.customLong("size"), .customShort("s")], help: "Key size in bits (default: rsa 2048, ecdsa 384).")
        var size = 0
        @OptionGroup var output: PKIOutput

        func run() throws {
            try runPKI {
                let key = try PrivateKeyBundle.generate(try PKIKeyType(pkiType: type, size: size))
                try output.write(try output.format == .pem ? Array(key.pemEncoded.utf8) : key.derEncoded, secret: true)
            }
        }
    }

    // MARK: self

    struct SelfSign: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "self", abstract: "Create a self-signed certificate (pki --self).")
        @OptionGroup var input: PKIInput
        @Option(name: [.customLong("type"), .customShort("t")], help: "Type of input key: rsa, ecdsa, ed25519 or priv (default: priv).")
        var type: String?
        @Option(name: [.customLong("dn"), .customShort("d")], help: "Subject and issuer distinguished name, e.g. \"C=CA, O=kldload, CN=IPsec CA\".")
        var dn: String
        @Option(name: [.customLong("san"), .customShort("a")], help: "subjectAltName to include (repeatable).")
        var san: [String] = []
        @OptionGroup var validity: PKIValidity
        @Option(name: [.customLong("serial"), .customShort("s")], help: "Serial number in hex (default: random).")
        var serial: String?
        @Flag(name: [.customLong("ca"), .customShort("b")], help: "Include CA basicConstraint.")
        var ca = false
        @Option(name: [.customLong("pathlen"), .customShort("p")], help: "Path length constraint.")
        var pathlen: Int?
        @Option(name: [.customLong("flag"), .customShort("e")], help: "serverAuth, clientAuth, ikeIntermediate, crlSign, ocspSigning, msSmartcardLogon.")
        var flag: [String] = []
        @Option(name: [.customLong("ocsp"), .customShort("o")], help: "OCSP AuthorityInfoAccess URI to include.")
        var ocsp: [String] = []
        @OptionGroup var signature: PKISignatureOptions
        @OptionGroup var output: PKIOutput

        func run() throws {
            try runPKI {
                let key = try loadPrivateKey(try input.read())
                try checkKeyType(key, pkiType: type)
                var profile = try makeProfile(dn: dn, san: san, validity: validity, serial: serial, ca: ca, pathlen: pathlen,
                                              flags: flag, ocsp: ocsp)
                profile.scheme = try signature.scheme(for: key.keyType)
                let certificate = try CertificateIssuer.selfSigned(key: key, profile: profile)
                try output.write(certificate.encoded(try output.format))
            }
        }
    }

    // MARK: req

    struct Req: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a PKCS#10 certificate request (pki --req).")
        @OptionGroup var input: PKIInput
        @Option(name: [.customLong("type"), .customShort("t")], help: "Type of input key: rsa, ecdsa, ed25519 or priv (default: priv).")
        var type: String?
        @Option(name: [.customLong("dn"), .customShort("d")], help: "Subject distinguished name.")
        var dn: String
        @Option(name: [.customLong("san"), .customShort("a")], help: "subjectAltName to include (repeatable).")
        var san: [String] = []
        @Option(name: [.customLong("password"), .customShort("p")], help: "challengePassword to include.")
        var password: String?
        @OptionGroup var signature: PKISignatureOptions
        @OptionGroup var output: PKIOutput

        func run() throws {
            try runPKI {
                let key = try loadPrivateKey(try input.read())
                try checkKeyType(key, pkiType: type)
                let request = try CertificateRequest.create(
                    key: key, subject: try DNString.parse(dn), subjectAltNames: try san.map(SANString.parse),
                    challengePassword: password, scheme: try signature.scheme(for: key.keyType))
                try output.write(request.encoded(try output.format))
            }
        }
    }

    // MARK: issue

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a certificate with a CA certificate and key (pki --issue).",
            discussion: "Without --type the input is recognized: a PKCS#10 request is issued as with --type pkcs10 (pki 5.9.8 would fail), anything else as a public key.")
        @OptionGroup var input: PKIInput
        @Option(name: [.customLong("type"), .customShort("t")], help: "Input: pub, pkcs10, priv, rsa, ecdsa, ed25519 (default: recognized).")
        var type: String?
        @Option(name: [.customLong("cacert"), .customShort("c")], help: "CA certificate file.")
        var cacert: String
        @Option(name: [.customLong("cakey"), .customShort("k")], help: "CA private key file.")
        var cakey: String
        @Option(name: [.customLong("dn"), .customShort("d")], help: "Subject distinguished name (default: the request's).")
        var dn: String?
        @Option(name: [.customLong("san"), .customShort("a")], help: "subjectAltName to include (repeatable).")
        var san: [String] = []
        @OptionGroup var validity: PKIValidity
        @Option(name: [.customLong("serial"), .customShort("s")], help: "Serial number in hex (default: random).")
        var serial: String?
        @Flag(name: [.customLong("ca"), .customShort("b")], help: "Include CA basicConstraint.")
        var ca = false
        @Option(name: [.customLong("pathlen"), .customShort("p")], help: "Path length constraint.")
        var pathlen: Int?
        @Option(name: [.customLong("flag"), .customShort("e")], help: "serverAuth, clientAuth, ikeIntermediate, crlSign, ocspSigning, msSmartcardLogon.")
        var flag: [String] = []
        @Option(name: [.customLong("crl"), .customShort("u")], help: "CRL distribution point URI to include (repeatable).")
        var crl: [String] = []
        @Option(name: [.customLong("crlissuer"), .customShort("I")], help: "CRL issuer DN for the last --crl.")
        var crlissuer: String?
        @Option(name: [.customLong("ocsp"), .customShort("o")], help: "OCSP AuthorityInfoAccess URI to include.")
        var ocsp: [String] = []
        @OptionGroup var signature: PKISignatureOptions
        @OptionGroup var output: PKIOutput

        func run() throws {
            try runPKI {
                let caCertificate = try CertificateFile.loadOne(try readFile(cacert))
                let caKey = try loadPrivateKey(try readFile(cakey))
                let bytes = try input.read()
                var subject = try dn.map(DNString.parse)
                var names = try san.map(SANString.parse)
                var flags = try flag.map(CertificateFlag.init(pkiName:))
                let publicKey: PublicKeyBundle
                let asRequest = type?.lowercased() == "pkcs10" || (type == nil && CertificateRequest.looksLikeRequest(bytes))
                if asRequest {
                    let request = try CertificateRequest.load(bytes)
                    guard request.isSelfSignatureValid else {
                        throw PKIError(.badSignature, "certificate request signature is invalid (or uses an unsupported algorithm)")
                    }
                    subject = subject ?? request.subject
                    names += request.subjectAltNames
                    flags += request.flags
                    publicKey = request.publicKey
                } else {
                    switch type?.lowercased() {
                    case nil, "pub": publicKey = try loadPublicKey(bytes)
                    case "priv", "rsa", "ecdsa", "ed25519":
                        let key = try loadPrivateKey(bytes)
                        try checkKeyType(key, pkiType: type)
                        publicKey = key.publicKey
                    default: throw ValidationError("invalid input type '\(type ?? "")'")
                    }
                }
                // pki: without --dn and request, an empty subject.
                var profile = CertificateProfile(subject: subject ?? DistinguishedName())
                let (notBefore, notAfter) = try validity.range(defaultDays: 1095)
                profile.notBefore = notBefore
                profile.notAfter = notAfter
                profile.subjectAltNames = names
                profile.serial = try serial.map(parseHexSerial)
                profile.isCA = ca
                profile.pathLength = pathlen
                profile.flags = Set(flags)
                profile.crlDistributionPoints = crl.map { ($0, nil) }
                if let crlissuer {
                    guard !profile.crlDistributionPoints.isEmpty else { throw ValidationError("--crlissuer must follow a --crl") }
                    profile.crlDistributionPoints[profile.crlDistributionPoints.count - 1].issuer = try DNString.parse(crlissuer)
                }
                profile.ocspURIs = ocsp
                profile.scheme = try signature.scheme(for: caKey.keyType)
                let certificate = try CertificateIssuer.issue(publicKey: publicKey, profile: profile,
                                                              caCertificate: caCertificate, caKey: caKey)
                try output.write(certificate.encoded(try output.format))
            }
        }
    }

    // MARK: print

    struct Print: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a credential in human-readable form (pki --print).")
        @OptionGroup var input: PKIInput
        @Option(name: [.customLong("type"), .customShort("t")], help: "x509, crl, pkcs10, pub, priv, rsa, ecdsa, ed25519 (default: recognized).")
        var type: String?

        func run() throws {
            try runPKI {
                let bytes = try input.read()
                let kind = try type?.lowercased() ?? recognize(bytes)
                switch kind {
                case "x509": print(PKIPrinter.certificate(try CertificateFile.loadOne(bytes)), terminator: "")
                case "crl":
                    guard let crl = try CRL.load(bytes).first else { throw PKIFailure("no CRL found") }
                    print(PKIPrinter.crl(crl), terminator: "")
                case "pkcs10": print(PKIPrinter.request(try CertificateRequest.load(bytes)), terminator: "")
                case "pub": print(PKIPrinter.publicKey(try loadPublicKey(bytes)), terminator: "")
                case "priv", "rsa", "ecdsa", "ed25519", "rsa-priv", "ecdsa-priv", "ed25519-priv":
                    let key = try loadPrivateKey(bytes)
                    try checkKeyType(key, pkiType: kind.replacingOccurrences(of: "-priv", with: ""))
                    print(PKIPrinter.privateKey(key), terminator: "")
                default: throw ValidationError("invalid input type '\(kind)'")
                }
            }
        }
    }

    // MARK: pub

    struct Pub: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Extract the public key from a private key, request or certificate (pki --pub).")
        @OptionGroup var input: PKIInput
        @Option(name: [.customLong("type"), .customShort("t")], help: "priv, rsa, ecdsa, ed25519, pub, pkcs10, x509 (default: recognized).")
        var type: String?
        @OptionGroup var output: PKIOutput

        func run() throws {
            try runPKI {
                let bytes = try input.read()
                let key: PublicKeyBundle
                switch type?.lowercased() {
                case nil: key = try loadPublicKey(bytes)
                case "priv", "rsa", "ecdsa", "ed25519":
                    let privateKey = try loadPrivateKey(bytes)
                    try checkKeyType(privateKey, pkiType: type)
                    key = privateKey.publicKey
                case "pub": key = try loadPublicKey(bytes)
                case "pkcs10": key = try CertificateRequest.load(bytes).publicKey
                case "x509": key = try PublicKeyBundle(certificate: try CertificateFile.loadOne(bytes))
                default: throw ValidationError("invalid input type '\(type ?? "")'")
                }
                try output.write(try output.format == .pem ? Array(key.pemEncoded.utf8) : key.derEncoded)
            }
        }
    }

    // MARK: keyid

    struct KeyID: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "keyid", abstract: "Calculate the key identifiers of a key or certificate (pki --keyid).")
        @OptionGroup var input: PKIInput
        @Option(name: [.customLong("type"), .customShort("t")], help: "priv, rsa, ecdsa, pub, pkcs10, x509 (default: recognized).")
        var type: String?
        @Option(name: [.customLong("id"), .customShort("I")], help: "all, spk (SHA-1 of subjectPublicKey) or spki (SHA-1 of subjectPublicKeyInfo).")
        var id = "all"
        @Option(name: [.customLong("format"), .customShort("f")], help: "pretty, hex, base64 or bin.")
        var format = "pretty"

        func run() throws {
            try runPKI {
                let bytes = try input.read()
                let key: PublicKeyBundle = switch type?.lowercased() {
                case "pkcs10": try CertificateRequest.load(bytes).publicKey
                case "x509": try PublicKeyBundle(certificate: try CertificateFile.loadOne(bytes))
                case "priv", "rsa", "ecdsa", "rsa-priv", "ecdsa-priv": try loadPrivateKey(bytes).publicKey
                default: try loadPublicKey(bytes)
                }
                var ids: [(String, [UInt8])] = []
                guard ["all", "spk", "spki"].contains(id) else { throw ValidationError("invalid id type '\(id)'") }
                if id != "spki" { ids.append(("subjkey (SHA-1 of subjectPublicKey)", key.subjectKeyID)) }
                if id != "spk" { ids.append(("keyid (SHA-1 of subjectPublicKeyInfo)", key.keyID)) }
                for (label, value) in ids {
                    switch format {
                    case "pretty": print("\(label):\n             \(value.map { String(format: "%02x", $0) }.joined(separator: ":"))")
                    case "hex": print(value.map { String(format: "%02x", $0) }.joined())
                    case "base64": print(Data(value).base64EncodedString())
                    case "bin": FileHandle.standardOutput.write(Data(value))
                    default: throw ValidationError("invalid output format '\(format)'")
                    }
                }
            }
        }
    }
}

// MARK: shared

func readFile(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else { throw PKIFailure("cannot read '\(path)'") }
    return [UInt8](data)
}

/// What kind of credential the bytes hold, from the PEM label or by trying DER structures in turn.
func recognize(_ bytes: [UInt8]) throws -> String {
    if PEM.looksLikePEM(bytes) {
        for block in try PEM.decodeAll(String(decoding: bytes, as: UTF8.self)) {
            switch block.label {
            case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE": return "x509"
            case "X509 CRL": return "crl"
            case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST": return "pkcs10"
            case "PUBLIC KEY", "RSA PUBLIC KEY": return "pub"
            case "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY": return "priv"
            default: continue
            }
        }
        throw PKIFailure("no certificate, CRL, request or key found in the PEM input")
    }
    do { _ = try CertificateFile.loadOne(bytes); return "x509" } catch where error.code == .unsupportedAlgorithm { return "x509" } catch {}
    if (try? CRL(der: bytes)) != nil { return "crl" }
    if (try? CertificateRequest(der: bytes)) != nil { return "pkcs10" }
    do { _ = try PrivateKeyBundle.load(bytes, passphrase: nil); return "priv" } catch where error.code == .encryptedKey { return "priv" } catch {}
    if (try? PublicKeyBundle(subjectPublicKeyInfo: bytes)) != nil { return "pub" }
    throw PKIFailure("parsing input failed: not a certificate, CRL, request or key")
}

/// The certificate profile shared by --self (and the parts of --issue that match).
func makeProfile(dn: String, san: [String], validity: PKIValidity, serial: String?, ca: Bool, pathlen: Int?,
                 flags: [String], ocsp: [String]) throws -> CertificateProfile {
    var profile = CertificateProfile(subject: try DNString.parse(dn))
    let (notBefore, notAfter) = try validity.range(defaultDays: 1095)
    profile.notBefore = notBefore
    profile.notAfter = notAfter
    profile.subjectAltNames = try san.map(SANString.parse)
    profile.serial = try serial.map(parseHexSerial)
    profile.isCA = ca
    profile.pathLength = pathlen
    profile.flags = Set(try flags.map(CertificateFlag.init(pkiName:)))
    profile.ocspURIs = ocsp
    return profile
}
