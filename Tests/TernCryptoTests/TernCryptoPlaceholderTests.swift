import Testing
@testable import TernCrypto

@Test func TernCryptoLinks() {}
