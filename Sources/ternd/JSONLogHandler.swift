import Foundation
import Logging

/// `ternd --log-format json`: one JSON object per line on standard error, for journald's
/// structured readers, Loki, jq. Keys: time (RFC 3339, UTC, milliseconds), level, subsystem
/// (the logger label), message, and metadata when there is any.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    private static let lock = NSLock()

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: Any] = [
            "time": Self.timestamp(Date()),
            "level": event.level.rawValue,
            "subsystem": label,
            "message": event.message.description,
        ]
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        if !merged.isEmpty { object["metadata"] = merged.mapValues(Self.json) }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        var line = data
        line.append(0x0A)
        // One write per line, serialized, so lines from different threads never interleave.
        Self.lock.lock()
        FileHandle.standardError.write(line)
        Self.lock.unlock()
    }

    static func json(_ v: Logger.MetadataValue) -> Any {
        switch v {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let a): a.map(json)
        case .dictionary(let d): d.mapValues(json)
        }
    }

    /// One formatter for every line (making one per line cost more than the rest of a log line
    /// under a flood of them), used under its lock.
    nonisolated(unsafe) private static let formatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f
    }()
    private static let formatterLock = NSLock()

    static func timestamp(_ d: Date) -> String {
        formatterLock.withLock { formatter.string(from: d) }
    }
}
