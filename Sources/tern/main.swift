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
    @Option(help: "ternd's control socket.")
    var vici = "/run/tern/ternd.vici"

    func connect() throws -> VICIClient {
        do {
            return try VICIClient(path: vici)
        } catch {
            FileHandle.standardError.write(Data("tern: cannot reach ternd at \(vici): \(error) (is ternd running? pass --vici PATH)\n".utf8))
            throw ExitCode(Exit.unavailable)
        }
    }

    func call(_ command: String) throws -> VICIMessage {
        let client = try connect()
        defer { client.close() }
        do {
            return try client.call(command)
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
          tern state                     SAD and SPD with counters, like setkey -D / -DP
          tern state --json              the same as JSON
          tern --vici /tmp/a.vici state  talk to a ternd with another control socket
          tern reload                    re-read ternd's setkey files and swanctl.conf
          tern initiate --child net      bring a tunnel up (waits until established)
          tern list-sas                  IKE and CHILD SAs with counters (--json for scripts)
          tern rekey --child net         rekey now; tern terminate --ike site-b to close
          tern pki --gen --type ed25519  keys, requests, certificates, CRLs (strongSwan pki's options)
          tern load-all --file /etc/swanctl/swanctl.conf   load credentials, pools and connections
          tern list-conns; tern list-pols; tern list-certs; tern list-pools
          tern stats; tern counters --all; tern log --timeout 60
          tern --vici /run/charon.vici list-sas         works against strongSwan's charon too

        Exit codes: 0 success; 64 usage error or unreadable swanctl.conf; 69 cannot reach the daemon
        (socket missing, refused, or the connection broke); 70 the daemon refused the request or a
        negotiation failed.
        """,
        subcommands: [State.self, Reload.self, Version.self, LoadAll.self, LoadConns.self, LoadCreds.self, LoadPools.self,
                      Initiate.self, Terminate.self, Rekey.self, ListSAs.self, ListConns.self, ListPols.self, ListCerts.self,
                      ListPools.self, Stats.self, Counters.self, Log.self, PKI.self])

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
   let sub = args.firstIndex(where: { ["state", "reload", "version", "load-all", "load-conns", "load-creds", "load-pools", "initiate", "terminate", "rekey",
                                                 "list-sas", "list-conns", "list-pols", "list-certs", "list-pools", "stats", "counters", "log", "pki"].contains($0) }), sub > i {
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
