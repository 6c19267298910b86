import TernDataPlane
import TernWire

/// One KAME setkey(8) command, already checked: addresses, algorithms and key lengths are valid
/// and every value is in the data-plane model's types.
public enum SetkeyCommand: Sendable, Hashable {
    /// `add src dst proto spi [extensions] algorithms ;`
    case add(SAConfig)
    /// `get src dst proto spi ;` (a no-op when a file is loaded)
    case get(SAKey)
    /// `delete src dst proto spi ;`
    case delete(SAKey)
    /// `deleteall src dst proto ;`
    case deleteAll(source: IPAddress, destination: IPAddress, proto: IPSecProtocol)
    /// `flush [proto] ;`
    case flush(IPSecProtocol?)
    /// `dump [proto] ;` (a no-op when a file is loaded)
    case dump(IPSecProtocol?)
    /// `spdadd src dst upperspec -P direction [priority] policy ;`
    case spdAdd(PolicyConfig)
    /// `spddelete src dst upperspec -P direction ;`
    case spdDelete(PolicySelector)
    /// `spdflush ;`
    case spdFlush
    /// `spddump ;` (a no-op when a file is loaded)
    case spdDump
}

/// A command and where it starts (its first token), for error reports when it is applied.
public struct SetkeyStatement: Sendable, Hashable {
    public var command: SetkeyCommand
    public var location: SourceLocation

    public init(command: SetkeyCommand, location: SourceLocation) {
        self.command = command; self.location = location
    }
}
