import Testing
@testable import TernWire

@Test func TernWireLinks() {}
