/// Something in a configuration that is accepted but not acted on (a key strongSwan knows
/// and Tern ignores, a section swanctl would skip), reported so the operator is never
/// surprised by a silent no-op. Whatever changes security is a `ConfigError` instead.
public struct ConfigWarning: Sendable, Hashable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String

    public init(location: SourceLocation, message: String) {
        self.location = location; self.message = message
    }

    /// `swanctl.conf:12:5: warning: …`, in the form compilers use.
    public var description: String { "\(location): warning: \(message)" }
}
