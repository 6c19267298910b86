#if canImport(Glibc)
import Glibc
#endif
import TernIKE
import TernWire

/// Host names in local_addrs/remote_addrs, through getaddrinfo (blocking: LookupService runs it
/// on its own threads; the engine caches the answers).
enum HostResolver {
    static func resolve(_ name: String) -> IKELookupResult {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, nil, &hints, &result)
        guard rc == 0 else {
            return .failed(rc == EAI_NONAME ? "no such host" : String(cString: gai_strerror(rc)))
        }
        var out: [IPAddress] = []
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
        var unique: [IPAddress] = []
        for a in out where !unique.contains(a) { unique.append(a) }
        return .addresses(unique)
    }
}
