import Testing
@testable import TernVICI

@Test func TernVICILinks() {}
