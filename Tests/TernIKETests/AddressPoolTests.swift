import Testing
import TernIKE
import TernWire

@Suite struct AddressPoolTests {
    static func pool(_ cidr: String, name: String = "rw") -> AddressPool {
        AddressPool(AddressPoolConfig(name: name, subnet: IPPrefix(cidr)!))
    }

    @Test func aSubnetPoolSkipsTheNetworkAndBroadcastAddresses() {
        let p = Self.pool("10.3.0.0/30")
        #expect(p.size == 2)
        #expect(p.acquire(identity: "alice") == IPAddress("10.3.0.1"))
        #expect(p.acquire(identity: "bob") == IPAddress("10.3.0.2"))
        #expect(p.acquire(identity: "carol") == nil)
        let range = AddressPool(AddressPoolConfig(name: "r", first: IPAddress("10.9.0.10")!, last: IPAddress("10.9.0.12")!))
        #expect(range.size == 3 && range.acquire(identity: "x") == IPAddress("10.9.0.10"))
    }

    @Test func theSameIdentityGetsItsAddressBackAfterReconnecting() {
        let p = Self.pool("10.3.0.0/24")
        let a = p.acquire(identity: "alice")!
        let b = p.acquire(identity: "bob")!
        #expect(p.release(a, identity: "alice"))
        #expect(p.onlineCount == 1 && p.offlineCount == 1)
        // Someone new gets an unused address, not alice's offline one.
        let c = p.acquire(identity: "carol")!
        #expect(c != a && c != b)
        #expect(p.acquire(identity: "alice") == a)
        #expect(p.leases.first { $0.address == a }?.online == true)
        // Releasing twice or with another identity does nothing.
        #expect(!p.release(b, identity: "alice"))
        #expect(p.release(b, identity: "bob") && !p.release(b, identity: "bob"))
    }

    @Test func exhaustionReassignsOfflineLeasesOldestFirstAndNeverDuplicates() {
        let p = Self.pool("10.3.0.0/29")   // .1 … .6
        var held: [String: IPAddress] = [:]
        for i in 0..<6 { held["u\(i)"] = p.acquire(identity: "u\(i)") }
        #expect(Set(held.values).count == 6)
        #expect(p.acquire(identity: "late") == nil, "an exhausted pool hands out nothing")
        p.release(held["u4"]!, identity: "u4")
        p.release(held["u1"]!, identity: "u1")
        // The oldest offline lease (u4's) goes first, then u1's.
        #expect(p.acquire(identity: "late") == held["u4"])
        #expect(p.acquire(identity: "later") == held["u1"])
        #expect(p.acquire(identity: "u4") == nil, "u4's lease went to someone else and the pool is full")
        let online = p.leases.filter(\.online).map(\.address)
        #expect(Set(online).count == online.count && online.count == 6)
    }

    @Test func aRequestedAddressIsHonouredOnlyWhenItIsTheIdentitysOwn() {
        let p = Self.pool("10.3.0.0/24")
        let a = p.acquire(identity: "alice")!
        _ = p.acquire(identity: "bob")
        p.release(a, identity: "alice")
        #expect(p.acquire(identity: "mallory", requested: a) != a)
        #expect(p.acquire(identity: "alice", requested: a) == a)
        // A second IKE SA of the same identity asking for the address it holds online shares it
        // (a reauthentication overlaps the old SA), and one release leaves it online.
        #expect(p.acquire(identity: "alice", requested: a) == a)
        p.release(a, identity: "alice")
        #expect(p.leases.first { $0.address == a }?.online == true)
    }

    @Test func ipv6PoolsAndTheOtherFamily() {
        let p = Self.pool("2001:db8:1::/120")
        #expect(p.size == 255)
        #expect(p.acquire(identity: "alice") == IPAddress("2001:db8:1::1"))
        #expect(!p.contains(IPAddress("10.0.0.1")!))
        let big = Self.pool("2001:db8::/64")
        #expect(big.size == 1 << 32)
        #expect(IPAddress("2001:db8::ffff:ffff")!.advanced(by: 1) == IPAddress("2001:db8::1:0:0"))
        #expect(IPAddress("2001:db8::1:0:0")!.advanced(by: -1) == IPAddress("2001:db8::ffff:ffff"))
        #expect(IPAddress("2001:db8::1:0:0")!.distance(from: IPAddress("2001:db8::")!) == 1 << 32)
    }
}
