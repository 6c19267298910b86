import ArgumentParser
import Foundation
import TernConfig
import TernDaemon
import TernDataPlane
import TernVICI

/// setkey(8) for ternd: the flags scripts call, talking to the running daemon. `-D`/`-DP` print
/// ipsec-tools' layout (a script grepping for `spi=` or `state=mature` keeps working), from
/// ternd's state: the SAs and policies of the setkey files and of IKE alike.
struct Setkey: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "setkey(8) against the running ternd: -f FILE, -c, -D, -DP, -F, -FP, -P, -v.",
        discussion: """
        Changes (-f, -c, -F, -FP) edit ternd's setkey database, all statements or none, as
        `setkey -f` applies a file; `tern reload` (or SIGHUP) reads ternd's --setkey files again.
        SAs IKE negotiated are listed by -D but not flushed by -F (`tern terminate` ends them).
        """)
    @OptionGroup var control: ControlOptions
    @Option(name: .customShort("f"), help: "Apply the setkey statements in FILE.") var file: String?
    @Flag(name: .customShort("c"), help: "Apply setkey statements read from standard input.") var stdin = false
    @Flag(name: .customShort("D"), help: "Dump the SAs (with -P: the policies).") var dump = false
    @Flag(name: .customShort("F"), help: "Flush the SAs (with -P: the policies).") var flush = false
    @Flag(name: .customShort("P"), help: "With -D or -F: policies instead of SAs.") var policies = false
    @Flag(name: .customShort("v"), help: "Say what was applied.") var verbose = false

    func validate() throws {
        let modes = [file != nil, stdin, dump, flush].filter { $0 }.count
        guard modes == 1 else { throw ValidationError("give one of -f FILE, -c, -D, -F (with -P for policies)") }
        if policies && !(dump || flush) { throw ValidationError("-P goes with -D or -F") }
    }

    func run() throws {
        if dump {
            let report = StateReport(message: try control.call("tern-state"))
            print(policies ? Self.policyDump(report) : Self.saDump(report), terminator: "")
            return
        }
        let text: String, name: String
        if let file {
            // The same checks ternd makes on its own --setkey files (keys readable by others are
            // refused), with file:line errors, before anything is sent.
            do { _ = try SetkeyFile.load(path: file) } catch {
                FileHandle.standardError.write(Data("tern: \(error)\n".utf8))
                throw ExitCode(Exit.refused)
            }
            text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            name = file
        } else if stdin {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            name = "<stdin>"
        } else {
            text = policies ? "spdflush;\n" : "flush;\n"
            name = policies ? "-FP" : "-F"
        }
        var m = VICIMessage()
        m["commands"] = .value(Array(text.utf8))
        m["file"] = .value(Array(name.utf8))
        let r = try control.call("tern-setkey", m)
        guard case .value(let ok)? = r["success"], String(decoding: ok, as: UTF8.self) == "yes" else {
            var why = "unknown error"
            if case .value(let v)? = r["errmsg"] { why = String(decoding: v, as: UTF8.self) }
            FileHandle.standardError.write(Data("tern: setkey: \(why)\n".utf8))
            throw ExitCode(Exit.refused)
        }
        if verbose, case .value(let n)? = r["applied"] {
            print("\(String(decoding: n, as: UTF8.self)) statements applied from \(name)")
        }
    }

    /// ipsec-tools' `setkey -D` layout (key bytes are not shown: ternd never hands them out).
    static func saDump(_ r: StateReport) -> String {
        guard !r.sas.isEmpty else { return "No SAD entries.\n" }
        var out = ""
        for (i, sa) in r.sas.enumerated() {
            out += "\(sa.src)\(sa.encapSourcePort.map { "[\($0)]" } ?? "") \(sa.dst)\(sa.encapDestinationPort.map { "[\($0)]" } ?? "")\n"
            out += "\t\(sa.proto) mode=\(sa.mode) spi=\(sa.spi)(\(String(format: "0x%08x", sa.spi))) reqid=\(sa.reqid)(\(String(format: "0x%08x", sa.reqid)))\n"
            if sa.proto != "ah" { out += "\tE: \(sa.encryption)\n" }
            if sa.integrity != "none" { out += "\tA: \(sa.integrity)\n" }
            out += "\tseq=\(String(format: "0x%08llx", sa.seq)) replay=\(sa.replayWindow) flags=0x00000000 state=mature \n"
            let now = UInt64(Date().timeIntervalSince1970)
            out += "\tcreated: \(date(sa.created))\tcurrent: \(date(now))\n"
            out += "\tdiff: \(now >= sa.created ? now - sa.created : 0)(s)\thard: 0(s)\tsoft: 0(s)\n"
            out += "\tlast: \(sa.lastUsed == 0 ? "" : date(sa.lastUsed))\thard: 0(s)\tsoft: 0(s)\n"
            out += "\tcurrent: \(sa.bytes)(bytes)\thard: 0(bytes)\tsoft: 0(bytes)\n"
            out += "\tallocated: \(sa.packets)\thard: 0\tsoft: 0\n"
            out += "\tsadb_seq=\(i) pid=0 refcnt=0\n"
        }
        return out
    }

    /// ipsec-tools' `setkey -DP` layout.
    static func policyDump(_ r: StateReport) -> String {
        guard !r.policies.isEmpty else { return "No SPD entries.\n" }
        var out = ""
        for (i, p) in r.policies.enumerated() {
            out += "\(p.src)[\(p.sport ?? "any")] \(p.dst)[\(p.dport ?? "any")] \(p.proto)\n"
            let prio = p.priority == PolicyConfig.defaultPriority ? "def" : String(p.priority)
            out += "\t\(p.dir) prio \(prio) \(p.action)\n"
            for rule in p.rules { out += "\t\(rule)\n" }
            out += "\tcreated: \tlastused: \n"
            out += "\tlifetime: 0(s) validtime: 0(s)\n"
            out += "\tspid=\(i * 8 + (p.dir == "out" ? 1 : 0)) seq=\(i) pid=0\n"
            out += "\trefcnt=1\n"
        }
        return out
    }

    static func date(_ t: UInt64) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "MMM d HH:mm:ss yyyy"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(t)))
    }
}
