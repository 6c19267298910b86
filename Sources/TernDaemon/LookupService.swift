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
/// thread stuck in a read stays stuck (the engine's answer does not wait for it).
final class LookupService: @unchecked Sendable {
    private let names = WorkerPool(name: "tern-dns", threads: 4)
    private let files = WorkerPool(name: "tern-file", threads: 2)
    private let routes = WorkerPool(name: "tern-route", threads: 1)
    private let mark: UInt32
    private let crlFetcher: FileCRLFetcher

    init(mark: UInt32, crlFetcher: FileCRLFetcher) {
        self.mark = mark
        self.crlFetcher = crlFetcher
    }

    func start(_ lookup: IKELookup, done: @escaping @Sendable (IKELookupResult) -> Void) {
        switch lookup {
        case .resolve(let host):
            names.submit { done(HostResolver.resolve(host)) }
        case .sourceAddress(let peer):
            let mark = self.mark
            routes.submit { done(.sourceAddress(IKEController.sourceAddress(toward: peer, mark: mark))) }
        case .fetchCRL(let uri):
            let fetcher = crlFetcher
            files.submit { done(.crls(fetcher.fetch(uri))) }
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
