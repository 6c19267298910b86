import ArgumentParser
import Foundation
import TernDaemon
import TernVICI

/// Exit codes (sysexits.h): 64 usage (ArgumentParser, unreadable swanctl.conf), 69 cannot reach
/// the daemon, 70 the daemon refused the request or the negotiation failed.
enum Exit {
    static let usage: Int32 = 64
    static let unavailable: Int32 = 69
    static let refused: Int32 = 70
}

struct ControlOptions: ParsableArguments {
    @Option(help: "The daemon's VICI socket: a path, or swanctl's unix://PATH (charon's is unix:///var/run/charon.vici).")
    var vici = "/run/tern/ternd.vici"

    func connect() throws -> VICIClient {
        let path = vici.hasPrefix("unix://") ? String(vici.dropFirst("unix://".count)) : vici
        do {
            return try VICIClient(path: path)
        } catch {
            FileHandle.standardError.write(Data("tern: cannot reach the daemon at \(vici): \(error) (is ternd running? pass --vici PATH)\n".utf8))
            throw ExitCode(Exit.unavailable)
        }
    }

    func call(_ command: String, _ message: VICIMessage = VICIMessage()) throws -> VICIMessage {
        let client = try connect()
        defer { client.close() }
        do {
            return try client.call(command, message)
        } catch {
            FileHandle.standardError.write(Data("tern: \(command) failed: \(error)\n".utf8))
            throw ExitCode(Exit.unavailable)
        }
    }
}

struct Tern: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tern",
        abstract: "Control and inspect ternd.",
        discussion: """
        Examples:
          tern state [--json]            SAD and SPD with counters (setkey -D/-DP)
          tern --vici /tmp/a.vici state  use another control socket
          tern reload                    re-read setkey files and swanctl.conf
          tern load-all --file F         load swanctl.conf: creds, pools, conns
          tern initiate --child net      bring a tunnel up, streaming the log
          tern list-sas [--json]         IKE and CHILD SAs with counters
          tern rekey --child net         rekey now
          tern terminate --ike site-b    close an IKE SA and its children
          tern list-conns | list-pols | list-certs | list-pools
          tern stats; tern counters --all; tern log --timeout 60
          tern --vici unix:///var/run/charon.vici list-sas   (strongSwan's charon)
          tern pki --gen --type ed25519  keys, requests, certificates, CRLs
          tern import ipsec.conf --secrets ipsec.secrets -o swanctl.conf   (Libreswan)

        Exit codes: 0 success; 64 usage error or unreadable swanctl.conf;
        69 cannot reach the daemon (no socket, refused, connection broken);
        70 the daemon refused the request or the negotiation failed.
        """,
        subcommands: [State.self, Reload.self, Version.self, LoadAll.self, LoadConns.self, LoadCreds.self, LoadPools.self,
                      Initiate.self, Terminate.self, Rekey.self, ListSAs.self, ListConns.self, ListPols.self, ListCerts.self,
                      ListPools.self, Stats.self, Counters.self, Log.self, PKI.self, Import.self, Setkey.self])

    struct State: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the data plane: SAs, policies, counters, drops.")
        @OptionGroup var control: ControlOptions
        @Flag(help: "Print JSON.") var json = false
        func run() throws {
            let report = StateReport(message: try control.call("tern-state"))
            print(json ? report.json() : report.text(), terminator: json ? "\n" : "")
        }
    }

    struct Reload: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-read the setkey files (as SIGHUP does).")
        @OptionGroup var control: ControlOptions
        func run() throws {
            let r = try control.call("tern-reload")
            if case .value(let v)? = r["success"], String(decoding: v, as: UTF8.self) == "yes" {
                print("reloaded")
                return
            }
            var why = "unknown error"
            if case .value(let v)? = r["errmsg"] { why = String(decoding: v, as: UTF8.self) }
            FileHandle.standardError.write(Data("tern: reload failed: \(why)\n".utf8))
            throw ExitCode(Exit.refused)
        }
    }

    struct Version: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the versions of tern and of the running ternd.")
        @OptionGroup var control: ControlOptions
        func run() throws {
            print("tern \(ternVersion)")
            let r = try control.call("version")
            if case .value(let v)? = r["version"] { print("ternd \(String(decoding: v, as: UTF8.self))") }
        }
    }
}

// `tern --vici PATH state` (the option before the subcommand) is how people type it: move it behind.
var args = Array(CommandLine.arguments.dropFirst())
if let i = args.firstIndex(where: { $0 == "--vici" || $0.hasPrefix("--vici=") }), i == 0,
   let sub = args.firstIndex(where: { Set(Tern.configuration.subcommands.map { $0._commandName }).contains($0) }), sub > i {
    let count = args[i].contains("=") ? 1 : 2
    let moved = Array(args[i..<i + count])
    args.removeSubrange(i..<i + count)
    args.append(contentsOf: moved)
}
// `tern pki --gen ...` is strongSwan pki's spelling: its command is an option. Make it the subcommand.
if args.count >= 2, args[0] == "pki", let command = PKI.pkiCommands[args[1]] {
    args[1] = command
}
Tern.main(args)
