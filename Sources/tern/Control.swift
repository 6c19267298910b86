import ArgumentParser
import Foundation
import TernVICI

/// Requests that map VICI failures onto tern's exit codes: the daemon unreachable or the
/// connection broken → 69, a command it refuses (success = no, unknown command) → 70.
extension ControlOptions {
    func request(_ client: VICIClient, _ command: String, _ message: VICIMessage = VICIMessage()) throws -> VICIMessage {
        do { return try client.call(command, message) } catch {
            throw Tern.failure(command, error)
        }
    }

    func streamed(_ client: VICIClient, _ command: String, event: String, _ message: VICIMessage = VICIMessage(),
                  onEvent: (VICIMessage) -> Void) throws -> VICIMessage {
        do { return try client.streamedCall(command, event: event, message, onEvent: onEvent) } catch {
            throw Tern.failure(command, error)
        }
    }
}

extension Tern {
    static func warn(_ text: String) {
        FileHandle.standardError.write(Data("tern: \(text)\n".utf8))
    }

    /// Reports a VICI error and returns the exit code that says what kind it was.
    static func failure(_ command: String, _ error: VICIError) -> ExitCode {
        if error.code == .unknownCommand || error.code == .unknownEvent {
            warn("\(command): the daemon does not offer this \(error.code == .unknownEvent ? "event" : "command") (\(error))")
            return ExitCode(Exit.refused)
        }
        warn("\(command) failed: \(error)")
        return ExitCode(Exit.unavailable)
    }

    /// Prints VICI messages as pretty JSON (sections → objects, lists → arrays, values → strings).
    static func printJSON(_ value: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    }

    /// `{name: {...}}` event messages flattened into `[{"name": name, ...}]`.
    static func namedObjects(_ messages: [VICIMessage]) -> [[String: Any]] {
        messages.flatMap { m in
            m.entries.map { e -> [String: Any] in
                var d = (VICIJSON.object(e.element) as? [String: Any]) ?? ["value": VICIJSON.object(e.element)]
                d["name"] = e.key
                return d
            }
        }
    }
}
