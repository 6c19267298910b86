import Foundation
import TernConfig
import TernDataPlane
import TernVICI

/// `tern setkey` (setkey(8)'s front end) on the control socket: `tern-setkey` applies setkey
/// statements to the running daemon's setkey database, all or nothing, as `setkey -f` applies
/// a file; `-D`/`-DP` read `tern-state`. What IKE negotiated is IKE's: these commands edit the
/// setkey (static) database only, and a reload (SIGHUP, `tern reload`) reads the files again.
extension Daemon {
    func registerSetkeyCommands(_ server: VICIServer) {
        server.register(command: "tern-setkey") { [weak self] req, _ in
            var m = VICIMessage()
            guard let self else { return m }
            let text = req.str("commands"), file = req.optionalStr("file") ?? "<stdin>"
            do {
                let applied = try self.applySetkey(text, file: file)
                m["success"] = .str("yes")
                m["applied"] = .str("\(applied)")
            } catch {
                m["success"] = .str("no")
                m["errmsg"] = .str("\(error)")
            }
            return m
        }
    }

    /// Parses and applies `text` to a copy of the setkey database; publishes it when every
    /// statement applied. Returns the number of statements.
    func applySetkey(_ text: String, file: String) throws -> Int {
        let statements = try SetkeyParser.parse(text, file: file)
        try replaceSetkeyDatabase { db throws in try SetkeyFile.apply(statements, to: &db) }
        cfgLog.notice("setkey: applied \(statements.count) statements from \(file)")
        return statements.count
    }
}
