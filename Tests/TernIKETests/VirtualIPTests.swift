import Testing
import TernTestSupport
import TernIKE
import TernWire

/// Virtual IPs through the configuration payload (RFC 7296 §2.19, §3.15) between in-memory
/// engines: a client with `vips` and a gateway with `pools`.
///
///   client                                            gateway
///   IKE_AUTH {IDi, AUTH, CP(CFG_REQUEST), SA, TSi 0/0, TSr} --->
///                     <--- {IDr, AUTH, CP(CFG_REPLY addr, dns), SA, TSi VIP/32, TSr}
@Suite struct VirtualIPTests {
    func connect(_ pair: IKEPair, until: (() -> Bool)? = nil) throws {
        try pair.initiate(pair.a, connection: "home", child: "home")
        let ok = pair.run(until: until ?? { pair.a.sas.count == 2 && pair.b.sas.count == 2 }, for: 30)
        #expect(ok, "A: \(pair.a.logLines)\nB: \(pair.b.logLines)")
    }

    @Test func clientGetsAnAddressFromThePoolAndTheSelectorsNarrowToIt() throws {
        var pool = AddressPoolConfig(name: "rw", subnet: IPPrefix("10.3.0.0/28")!)
        pool.attributes = [IKEConfigurationAttribute(type: 3, value: IPAddress("10.2.0.53")!.bytes)]
        let (ca, cb) = IKEFixtures.roadwarrior(pools: [pool])
        let pair = IKEPair(configA: ca, configB: cb)
        try connect(pair)
        let vip = IPAddress("10.3.0.1")!
        #expect(pair.a.virtualIPs == [vip])
        #expect(pair.a.dns[vip] == [IPAddress("10.2.0.53")!])
        let client = try #require(pair.a.established.first), gateway = try #require(pair.b.established.first)
        #expect(client.localVirtualIPs == [vip])
        #expect(gateway.remoteVirtualIPs == [vip])
        #expect(client.children.first?.localTS == ["10.3.0.1/32"])
        #expect(client.children.first?.remoteTS == ["10.2.0.0/24"])
        #expect(gateway.children.first?.remoteTS == ["10.3.0.1/32"])
        // The gateway's policies protect traffic to the lease, the client's traffic from it.
        let gwPolicies = try #require(pair.b.policies[gateway.children[0].reqid])
        #expect(gwPolicies.contains { $0.direction == .outbound && $0.destination == IPPrefix("10.3.0.1/32")! })
        let status = pair.b.endpoint.poolStatus
        #expect(status.map(\.name) == ["rw"] && status[0].online == 1 && status[0].size == 14)
        #expect(status[0].leases.map(\.identity) == ["alice@example.com"])
        // The wire: the request asked for an address, the reply carried it.
        #expect(pair.a.logLines.contains { $0.contains("installing new virtual IP 10.3.0.1") })
        #expect(pair.b.logLines.contains { $0.contains("assigning virtual IP 10.3.0.1 to peer 'alice@example.com' from pool 'rw'") })
    }

    @Test func ipv4AndIPv6AtOnce() throws {
        let pools = [AddressPoolConfig(name: "v4", subnet: IPPrefix("10.3.0.0/28")!),
                     AddressPoolConfig(name: "v6", subnet: IPPrefix("2001:db8:3::/120")!)]
        let (ca, cb) = IKEFixtures.roadwarrior(vips: ["0.0.0.0", "::"], pools: pools, remoteNets: ["10.2.0.0/24", "2001:db8:2::/64"])
        let pair = IKEPair(configA: ca, configB: cb)
        try connect(pair)
        #expect(pair.a.virtualIPs == [IPAddress("10.3.0.1")!, IPAddress("2001:db8:3::1")!])
        let client = try #require(pair.a.established.first)
        #expect(Set(client.children.first?.localTS ?? []) == ["10.3.0.1/32", "2001:db8:3::1/128"])
        #expect(pair.b.endpoint.poolStatus.map(\.online) == [1, 1])
    }

    @Test func anExhaustedPoolIsAnAddressFailureAndTheIKESAStaysUp() throws {
        let pool = AddressPoolConfig(name: "rw", first: IPAddress("10.3.0.5")!, last: IPAddress("10.3.0.5")!)
        let (ca, cb) = IKEFixtures.roadwarrior(pools: [pool])
        let first = IKEPair(configA: ca, configB: cb)
        try connect(first)
        // A second client, another identity, to the same gateway endpoint.
        let (cc, _) = IKEFixtures.roadwarrior(client: "bob@example.com", pools: [pool], addressA: "192.0.2.3")
        let second = IKEPair(endpointA: IKEEndpoint(configuration: cc, random: .seeded(7)), endpointB: first.b.endpoint,
                             addressA: IPAddress("192.0.2.3")!, addressB: IPAddress("192.0.2.2")!)
        try connect(second, until: { second.a.established.count == 1 && second.b.endpoint.stats.virtualIPFailures == 1 })
        second.run(for: 2)
        #expect(second.a.sas.isEmpty && second.a.virtualIPs.isEmpty)
        #expect(second.a.established.first?.children.isEmpty == true)
        #expect(second.a.logLines.contains { $0.contains("INTERNAL_ADDRESS_FAILURE") })
        #expect(second.b.logLines.contains { $0.contains("no virtual IP for 'bob@example.com'") })
        // Nobody got a duplicate.
        #expect(first.b.endpoint.poolStatus[0].leases.map(\.identity) == ["alice@example.com"])
    }

    @Test func theSameIdentityGetsItsAddressBackAndOthersOnlyWhenNothingElseIsFree() throws {
        let pool = AddressPoolConfig(name: "rw", first: IPAddress("10.3.0.5")!, last: IPAddress("10.3.0.6")!)
        let (ca, cb) = IKEFixtures.roadwarrior(pools: [pool])
        let pair = IKEPair(configA: ca, configB: cb)
        try connect(pair)
        #expect(pair.a.virtualIPs == [IPAddress("10.3.0.5")!])
        // Alice leaves: her lease goes offline, her address leaves her machine.
        pair.apply(try pair.a.endpoint.terminate(ike: "home", now: pair.now), on: pair.a)
        pair.run(until: { pair.a.endpoint.listSAs(now: pair.now).isEmpty && pair.b.endpoint.listSAs(now: pair.now).isEmpty }, for: 10)
        #expect(pair.a.virtualIPs.isEmpty)
        #expect(pair.b.endpoint.poolStatus[0].online == 0 && pair.b.endpoint.poolStatus[0].offline == 1)
        // Bob gets the unused address, not Alice's offline one.
        let (cc, _) = IKEFixtures.roadwarrior(client: "bob@example.com", pools: [pool], addressA: "192.0.2.3")
        let bob = IKEPair(endpointA: IKEEndpoint(configuration: cc, random: .seeded(9)), endpointB: pair.b.endpoint,
                          addressA: IPAddress("192.0.2.3")!, addressB: IPAddress("192.0.2.2")!)
        bob.now = pair.now
        try connect(bob)
        #expect(bob.a.virtualIPs == [IPAddress("10.3.0.6")!])
        // Alice reconnects and gets 10.3.0.5 again.
        pair.now = bob.now
        try connect(pair)
        #expect(pair.a.virtualIPs == [IPAddress("10.3.0.5")!])
    }

    @Test func poolsAreTriedInTheOrderWritten() throws {
        let pools = [AddressPoolConfig(name: "full", first: IPAddress("10.9.0.1")!, last: IPAddress("10.9.0.1")!),
                     AddressPoolConfig(name: "spare", subnet: IPPrefix("10.3.0.0/28")!)]
        let (ca, cb) = IKEFixtures.roadwarrior(pools: pools, poolNames: ["missing", "full", "spare"])
        let first = IKEPair(configA: ca, configB: cb)
        try connect(first)
        #expect(first.a.virtualIPs == [IPAddress("10.9.0.1")!])
        #expect(first.b.logLines.contains { $0.contains("pool 'missing' named by connection rw does not exist") })
        let (cc, _) = IKEFixtures.roadwarrior(client: "bob@example.com", pools: pools, addressA: "192.0.2.3")
        let bob = IKEPair(endpointA: IKEEndpoint(configuration: cc, random: .seeded(9)), endpointB: first.b.endpoint,
                          addressA: IPAddress("192.0.2.3")!, addressB: IPAddress("192.0.2.2")!)
        try connect(bob)
        #expect(bob.a.virtualIPs == [IPAddress("10.3.0.1")!])
    }

    @Test func aClientThatAsksForNothingFromAGatewayWithPoolsGetsNoChild() throws {
        let (ca, cb) = IKEFixtures.roadwarrior(vips: [])
        let pair = IKEPair(configA: ca, configB: cb)
        try connect(pair, until: { pair.a.established.count == 1 && pair.b.established.count == 1 })
        pair.run(for: 2)
        #expect(pair.a.sas.isEmpty)
        #expect(pair.a.logLines.contains { $0.contains("FAILED_CP_REQUIRED") })
    }

    @Test func anIKERekeyKeepsTheLeaseAndTheAddress() throws {
        let (ca, cb) = IKEFixtures.roadwarrior()
        let pair = IKEPair(configA: ca, configB: cb)
        try connect(pair)
        let before = try #require(pair.a.established.first)
        pair.apply(try pair.a.endpoint.rekey(ike: "home", now: pair.now), on: pair.a)
        pair.run(until: { pair.a.established.first.map { $0.uniqueID != before.uniqueID } ?? false
                          && pair.a.endpoint.listSAs(now: pair.now).count == 1 && pair.b.endpoint.listSAs(now: pair.now).count == 1 }, for: 10)
        let after = try #require(pair.a.established.first)
        #expect(after.uniqueID != before.uniqueID)
        #expect(after.localVirtualIPs == [IPAddress("10.3.0.1")!])
        #expect(pair.b.established.first?.remoteVirtualIPs == [IPAddress("10.3.0.1")!])
        #expect(pair.a.virtualIPs == [IPAddress("10.3.0.1")!])
        #expect(pair.b.endpoint.poolStatus[0].online == 1)
    }

    @Test func aReauthenticationKeepsTheAddressInstalled() throws {
        var (ca, cb) = IKEFixtures.roadwarrior()
        ca.connections[0].reauthTime = 100
        ca.connections[0].rekeyTime = 0
        ca.connections[0].randTime = 0
        let pair = IKEPair(configA: ca, configB: cb)
        try connect(pair)
        let before = try #require(pair.a.established.first)
        pair.run(until: { pair.a.endpoint.listSAs(now: pair.now).count == 1 && pair.a.established.first.map { $0.uniqueID != before.uniqueID } ?? false
                          && pair.b.endpoint.listSAs(now: pair.now).count == 1 }, for: 150)
        #expect(pair.a.logLines.contains { $0.contains("reauthenticating") })
        #expect(pair.a.established.first?.localVirtualIPs == [IPAddress("10.3.0.1")!])
        #expect(pair.a.virtualIPs == [IPAddress("10.3.0.1")!])
        #expect(pair.b.endpoint.poolStatus[0].online == 1 && pair.b.endpoint.poolStatus[0].offline == 0)
    }

    @Test func aHundredClientsGetDistinctAddresses() throws {
        let (_, cb) = IKEFixtures.roadwarrior(pools: [AddressPoolConfig(name: "rw", subnet: IPPrefix("10.3.0.0/24")!)])
        let gateway = IKEEndpoint(configuration: cb, random: .seeded(1))
        var assigned: [IPAddress] = []
        var now: MonotonicInstant = 0
        for i in 0..<100 {
            let address = "198.51.100.\(i + 1)"
            let (ca, _) = IKEFixtures.roadwarrior(client: "user\(i)@example.com", addressA: address)
            let pair = IKEPair(endpointA: IKEEndpoint(configuration: ca, random: .seeded(UInt64(100 + i))), endpointB: gateway,
                               addressA: IPAddress(address)!, addressB: IPAddress("192.0.2.2")!)
            pair.now = now
            try connect(pair)
            assigned += pair.a.virtualIPs
            now = pair.now
        }
        #expect(assigned.count == 100 && Set(assigned).count == 100)
        #expect(gateway.poolStatus[0].online == 100)
    }

    @Test func reloadKeepsLeasesAndRefusesToShrinkAPoolInUse() throws {
        let (ca, cb) = IKEFixtures.roadwarrior()
        let pair = IKEPair(configA: ca, configB: cb)
        try connect(pair)
        var changed = cb
        changed.pools = [AddressPoolConfig(name: "rw", subnet: IPPrefix("10.3.0.0/28")!,
                                           attributes: [IKEConfigurationAttribute(type: 3, value: [10, 2, 0, 53])])]
        #expect(pair.b.endpoint.poolChangeRefusal(changed.pools) == nil)
        #expect(pair.b.endpoint.update(configuration: changed).isEmpty)
        #expect(pair.b.endpoint.poolStatus[0].online == 1)
        changed.pools = [AddressPoolConfig(name: "rw", subnet: IPPrefix("10.4.0.0/28")!)]
        #expect(pair.b.endpoint.poolChangeRefusal(changed.pools) == "pool 'rw' has online leases, unable to replace")
        #expect(pair.b.endpoint.poolChangeRefusal([]) == "pool 'rw' has online leases, unable to unload")
        let warnings = pair.b.endpoint.update(configuration: changed)
        #expect(warnings.first?.contains("has online leases") == true)
        #expect(pair.b.endpoint.poolStatus[0].base == IPAddress("10.3.0.0")!)
    }
}
