import Testing
@testable import TernDataPlane

@Test func TernDataPlaneLinks() {}
