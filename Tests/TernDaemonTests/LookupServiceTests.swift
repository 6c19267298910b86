import Foundation
import Testing
@testable import TernDaemon
import TernConfig
import TernIKE

/// The lookup pools: a file read that never returns holds one thread, not the pool.
@Suite struct LookupServiceTests {
    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [IKELookupResult] = []
        func add(_ r: IKELookupResult) { lock.withLock { items.append(r) } }
        var all: [IKELookupResult] { lock.withLock { items } }
    }

    /// A read that has not returned (a slow or hung file system; here the test delay) holds one
    /// file thread: asking for the same file again fails at once instead of taking the other.
    @Test func aFileWhoseReadHasNotReturnedIsNotReadAgain() throws {
        let service = LookupService(mark: 0, crlFetcher: FileCRLFetcher(), environment: ["TERN_TEST_LOOKUP_DELAY": "file:2"])
        defer { service.stop() }
        let results = Results()
        let uri = "file:///nonexistent/tern-test.crl"
        let started = Date()
        service.start(.fetchCRL(uri: uri)) { results.add($0) }
        service.start(.fetchCRL(uri: uri)) { results.add($0) }
        let first = try #require(results.all.first, "the second ask did not fail at once")
        guard case .failed(let why) = first else { Issue.record("expected a failure, got \(first)"); return }
        #expect(why.contains("has not returned"), "\(why)")
        // The first read finishes after its delay (the file does not exist: no CRLs).
        while results.all.count < 2 && Date().timeIntervalSince(started) < 10 { usleep(10_000) }
        #expect(results.all.count == 2 && Date().timeIntervalSince(started) >= 2)
        if results.all.count == 2, case .crls(let c) = results.all[1] { #expect(c?.count == nil) } else { Issue.record("\(results.all)") }
    }

    @Test func delaysForTestsAreParsedPerKind() {
        #expect(LookupService.parseDelays("route:10,dns:2.5") == ["route": 10, "dns": 2.5])
        #expect(LookupService.parseDelays("junk,file:x,route:-1").isEmpty)
    }
}
