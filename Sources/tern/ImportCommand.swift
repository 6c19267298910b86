import ArgumentParser
import Foundation
import TernConfig

/// `tern import ipsec.conf [--secrets ipsec.secrets] [-o swanctl.conf]`: Libreswan/Openswan
/// configuration into swanctl.conf, with every setting that did not convert as written listed
/// on stderr as file:line: why.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert a Libreswan/Openswan ipsec.conf (and ipsec.secrets) into swanctl.conf.",
        discussion: """
        Every conn section (with also= and conn %default resolved) becomes a connection; PSK lines
        of ipsec.secrets become secrets. Whatever swanctl.conf cannot express, or Tern does not
        support, is listed on stderr as FILE:LINE: warning: why (and at the top of the output).
        left is this host unless --local right (or right=%defaultroute) says otherwise.

        Exit codes: 0 converted (warnings may have been printed); 64 usage; 65 the input is not
        a valid ipsec.conf/ipsec.secrets (the error says where); 73 the output cannot be written.
        """)

    @Argument(help: "The ipsec.conf to convert (includes are followed).")
    var config: String

    @Option(help: "The ipsec.secrets whose PSK entries to convert.")
    var secrets: String?

    @Option(name: [.short, .customLong("output")], help: "Write swanctl.conf here (mode 0600 when it holds secrets) instead of stdout.")
    var output: String?

    @Option(help: "Which side is this host: left or right.")
    var local: String = "left"

    @Flag(help: "Do not check the result against what ternd supports.")
    var noCheck = false

    func validate() throws {
        guard LibreswanImport.LocalSide(rawValue: local) != nil else { throw ValidationError("--local is left or right") }
    }

    func run() throws {
        let result: LibreswanImport.Result
        do {
            result = try LibreswanImport.convert(configPath: config, secretsPath: secrets, localSide: LibreswanImport.LocalSide(rawValue: local)!)
        } catch {
            Tern.warn("\(error)")
            throw ExitCode(65)
        }
        for n in result.notes { FileHandle.standardError.write(Data("\(n)\n".utf8)) }

        // What ternd will make of it: the same parser and mapping it loads swanctl.conf with.
        if !noCheck {
            let where_ = output ?? "swanctl.conf"
            do {
                let parsed = try SwanctlLoader.configuration(from: SwanctlParser.parse(text: result.text, file: where_))
                for c in parsed.connections {
                    do { _ = try SwanctlAdmission.admit(c, source: parsed.source(of: c), certificates: .lenient) } catch {
                        FileHandle.standardError.write(Data("\(error.location.file):\(error.location.line): note: ternd will refuse this as it stands: \(error.message)\n".utf8))
                    }
                }
            } catch {
                Tern.warn("the converted text does not parse (a bug in tern import, please report it): \(error)")
                throw ExitCode(70)
            }
        }

        guard let output else {
            print(result.text, terminator: "")
            return
        }
        let holdsSecrets = result.text.contains("secrets {")
        let fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, holdsSecrets ? 0o600 : 0o644)
        guard fd >= 0 else {
            Tern.warn("cannot write \(output): \(String(cString: strerror(errno)))")
            throw ExitCode(73)
        }
        defer { close(fd) }
        if holdsSecrets { fchmod(fd, 0o600) }
        let bytes = Array(result.text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                Tern.warn("cannot write \(output): \(String(cString: strerror(errno)))")
                throw ExitCode(73)
            }
            written += n
        }
        FileHandle.standardError.write(Data("tern: wrote \(output): \(result.connections.count) connection(s), \(result.notes.count) warning(s)\n".utf8))
    }
}

extension CertificateSource {
    /// Certificates are not read while converting: any reference is accepted.
    static var lenient: CertificateSource {
        CertificateSource(certificates: { _, _, _ in [] }, hasPrivateKey: nil)
    }
}
