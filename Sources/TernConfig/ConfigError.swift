/// Where something is in a configuration file: 1-based line and column (columns count Unicode
/// scalars, so a tab is one column), printed the way compilers do so editors can jump there.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file; self.line = line; self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A configuration the daemon refuses, phrased for the operator: where (`file:line:column`),
/// what is wrong, and, when we can tell, how to fix it.
///
/// Contract: `message` never contains key bytes; it may quote the offending token, but key
/// tokens are only ever described by their length.
public struct ConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String
    public var hint: String?

    public init(location: SourceLocation, message: String, hint: String? = nil) {
        self.location = location; self.message = message; self.hint = hint
    }

    /// `a.setkey:3:42: error: expected …, found …; hint` — one line, so it survives log handlers.
    public var description: String {
        var s = "\(location): error: \(message)"
        if let hint { s += "; \(hint)" }
        return s
    }
}
