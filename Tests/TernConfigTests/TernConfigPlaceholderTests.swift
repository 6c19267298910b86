import Testing
@testable import TernConfig

@Test func TernConfigLinks() {}
