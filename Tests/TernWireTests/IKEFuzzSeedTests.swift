#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import TernWire

/// Writes the sample messages as seeds for the FuzzIKEMessage corpus when asked:
///     TERN_IKE_CORPUS_DIR=$PWD/Fuzz/corpus/FuzzIKEMessage swift test --filter IKEFuzzSeedTests
/// Without the variable it only checks that every seed decodes (a broken seed is useless).
@Suite struct IKEFuzzSeedTests {
    @Test func writeSeeds() throws {
        let directory = getenv("TERN_IKE_CORPUS_DIR").map { String(cString: $0) }
        for (name, message) in IKESamples.allMessages {
            let bytes = message.encode()
            #expect(try IKEMessage(decoding: bytes).payloads == message.payloads, "\(name)")
            guard let directory else { continue }
            let file = try #require(fopen("\(directory)/\(name)", "wb"), "cannot create \(directory)/\(name)")
            defer { fclose(file) }
            #expect(fwrite(bytes, 1, bytes.count, file) == bytes.count)
        }
    }
}
