import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TernConfig
import TernIKE
import TernPKI
import TernWire

/// Carries out the IKE engine's lookups (`IKEAction.lookup`) on worker threads, so a name server
/// that never answers or a CRL file that never reads delays only what waits for it, never the
/// IKE queue. Each kind has its own pool, so a hanging file read cannot hold up DNS:
///
///   names   4 threads   getaddrinfo (the engine caches answers for a minute)
///   files   2 threads   file:// CRLs (FileCRLFetcher re-reads a file only when it changed)
///   routes  1 thread    the source address toward a peer (a connected UDP socket's name)
///
/// Lookups queue in FIFO order per pool. The engine gives up on one after its lookupTimeout; a
/// thread stuck in a read stays stuck (the engine's answer does not wait for it), so a file whose
/// read has not returned is not read again by a second thread: asking for it again fails at once,
/// and one file that never reads (a FIFO no one writes) cannot take the whole pool.
///
/// `TERN_TEST_LOOKUP_DELAY=dns:S,file:S,route:S` delays every lookup of a kind by S seconds, for
/// tests of what must not wait behind a slow lookup (a route lookup cannot be made slow in a
/// namespace: a connected UDP socket's name is immediate).
final class LookupService: @unchecked Sendable {
    private let names = WorkerPool(name: "tern-dns", threads: 4)
    private let files = WorkerPool(name: "tern-file", threads: 2)
    private let routes = WorkerPool(name: "tern-route", threads: 1)
    private let mark: UInt32
    private let crlFetcher: FileCRLFetcher
    private let delays: [String: Double]
    private let lock = NSLock()
    /// CRL URIs a file thread is reading now, with when it started.
    private var reading: [String: Date] = [:]

    init(mark: UInt32, crlFetcher: FileCRLFetcher,
         environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.mark = mark
        self.crlFetcher = crlFetcher
        delays = Self.parseDelays(environment["TERN_TEST_LOOKUP_DELAY"] ?? "")
    }

    static func parseDelays(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for item in text.split(separator: ",") {
            let kv = item.split(separator: ":", maxSplits: 1)
            if kv.count == 2, let s = Double(kv[1]), s > 0 { out[String(kv[0])] = s }
        }
        return out
    }

    private func delay(_ kind: String) {
        if let s = delays[kind] { Thread.sleep(forTimeInterval: s) }
    }

    func start(_ lookup: IKELookup, done: @escaping @Sendable (IKELookupResult) -> Void) {
        switch lookup {
        case .resolve(let host):
            names.submit { [self] in delay("dns"); done(HostResolver.resolve(host)) }
        case .sourceAddress(let peer):
            let mark = self.mark
            routes.submit { [self] in delay("route"); done(.sourceAddress(IKEController.sourceAddress(toward: peer, mark: mark))) }
        case .fetchCRL(let uri):
            let since: Date? = lock.withLock {
                if let t = reading[uri] { return t }
                reading[uri] = Date()
                return nil
            }
            if let since {
                done(.failed("the read of \(uri) started \(Int(-since.timeIntervalSinceNow)) s ago has not returned"))
                return
            }
            let fetcher = crlFetcher
            files.submit { [self] in
                delay("file")
                let crls = fetcher.fetch(uri)
                _ = lock.withLock { reading.removeValue(forKey: uri) }
                done(.crls(crls))
            }
        }
    }

    func stop() {
        for p in [names, files, routes] { p.stop() }
    }
}

/// A few threads draining one FIFO of blocking jobs.
private final class WorkerPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var stopped = false

    init(name: String, threads: Int) {
        for i in 0..<threads {
            let t = Thread { [self] in run() }
            t.name = "\(name)-\(i)"
            t.start()
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while head == jobs.count && !stopped { condition.wait() }
            if stopped { condition.unlock(); return }
            let job = jobs[head]
            head += 1
            if head > 64 && head * 2 > jobs.count { jobs.removeFirst(head); head = 0 }
            condition.unlock()
            job()
        }
    }
}
