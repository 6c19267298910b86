import Foundation
#if canImport(Glibc)
import Glibc
#endif
import TernWire

/// Resolves host names in local_addrs/remote_addrs (getaddrinfo), caching answers for a minute
/// so matching peers does not query DNS for every IKE_SA_INIT. Called on the IKE queue only.
final class HostResolver: @unchecked Sendable {
    private var cache: [String: (at: Date, addresses: [IPAddress])] = [:]
    private let ttl: TimeInterval

    init(ttl: TimeInterval = 60) { self.ttl = ttl }

    func resolve(_ name: String) -> [IPAddress] {
        if let c = cache[name], Date().timeIntervalSince(c.at) < ttl { return c.addresses }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        var out: [IPAddress] = []
        if getaddrinfo(name, nil, &hints, &result) == 0 {
            var p = result
            while let ai = p {
                if ai.pointee.ai_family == AF_INET, let sa = ai.pointee.ai_addr {
                    let a = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
                    out.append(IPAddress(v4: a))
                } else if ai.pointee.ai_family == AF_INET6, let sa = ai.pointee.ai_addr {
                    let bytes = sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                        withUnsafeBytes(of: p.pointee.sin6_addr) { Array($0) }
                    }
                    if let a = IPAddress(bytes: bytes) { out.append(a) }
                }
                p = ai.pointee.ai_next
            }
            freeaddrinfo(result)
        }
        var unique: [IPAddress] = []
        for a in out where !unique.contains(a) { unique.append(a) }
        cache[name] = (Date(), unique)
        return unique
    }
}
