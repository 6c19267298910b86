import FuzzSupport
import TernConfig
import TernDataPlane

/// libFuzzer entry: one input per call; must never crash, hang or leak.
///
/// Feeds the bytes as setkey text to the parser, applies what parses to a fresh database, and
/// checks the invariants an operator relies on: every statement and every error points into
/// the input (line ≥ 1, column ≥ 1, the file name we passed), and apply() is all-or-nothing.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    let lines = text.utf8.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }

    func check(_ l: SourceLocation) {
        precondition(l.file == "fuzz.setkey", "location names another file: \(l)")
        precondition(l.line >= 1 && l.line <= lines, "line out of range: \(l) (input has \(lines) lines)")
        precondition(l.column >= 1, "column out of range: \(l)")
    }

    let statements: [SetkeyStatement]
    do {
        statements = try SetkeyParser.parse(text, file: "fuzz.setkey")
    } catch {
        check(error.location)
        precondition(!error.message.isEmpty)
        return 0
    }
    for s in statements { check(s.location) }

    var db = SecurityDatabaseConfig()
    do {
        try SetkeyFile.apply(statements, to: &db)
    } catch {
        check(error.location)
        precondition(db == SecurityDatabaseConfig(), "a failed apply changed the database")
    }
    return 0
}

runFuzzer(fuzzOne)
