import FuzzSupport
import TernConfig

/// libFuzzer entry: one input per call; must never crash, hang or leak.
///
/// Feeds the bytes as swanctl.conf text to the parser and what parses to the typed conversion.
/// `include` patterns resolve to a small fixed file, or back to the input itself (`include
/// self`), so includes and cycle detection are exercised too. Invariants: every location in the
/// tree, every warning and every error points into the text it names (line within the file,
/// column ≥ 1), and parsing is deterministic.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let included = "version = 2\nchildren { c { local_ts = 10.0.0.0/8 } }\n"
    let lineCounts = ["fuzz.conf": lineCount(text), "inc.conf": lineCount(included)]

    func check(_ l: SourceLocation) {
        guard let lines = lineCounts[l.file] else { fatalError("location names an unknown file: \(l)") }
        precondition(l.line >= 1 && l.line <= lines, "line out of range: \(l) (\(lines) lines)")
        precondition(l.column >= 1, "column out of range: \(l)")
    }
    func checkTree(_ s: SwanctlSection) {
        check(s.location)
        for kv in s.keyValues { check(kv.location); check(kv.valueLocation) }
        for sub in s.subsections { checkTree(sub) }
    }
    let resolver: SwanctlParser.IncludeResolver = { pattern, at throws(ConfigError) in
        check(at)
        if pattern == "self" { return [(text: text, file: "fuzz.conf")] }
        return [(text: included, file: "inc.conf")]
    }

    let root: SwanctlSection
    do {
        root = try SwanctlParser.parse(text: text, file: "fuzz.conf", include: resolver)
    } catch {
        check(error.location)
        precondition(!error.message.isEmpty)
        return 0
    }
    checkTree(root)
    precondition((try? SwanctlParser.parse(text: text, file: "fuzz.conf", include: resolver)) == root, "parsing is not deterministic")

    do {
        let config = try SwanctlLoader.configuration(from: root)
        for w in config.warnings { check(w.location) }
        for c in config.connections {
            let source = config.source(of: c)
            check(source.location)
            for l in source.local + source.remote { check(l) }
            for child in c.children { check(source.child(child.name)) }
        }
        for s in config.secrets {
            if let secret = s.secret { precondition(secret.description == "<\(secret.bytes.count) secret bytes>") }
        }
    } catch {
        check(error.location)
        precondition(!error.message.isEmpty)
    }
    return 0
}

func lineCount(_ text: String) -> Int {
    text.utf8.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
}

runFuzzer(fuzzOne)
