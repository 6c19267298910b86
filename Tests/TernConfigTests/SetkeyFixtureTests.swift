import Testing
import TernConfig
import TernDataPlane
import TernCrypto
import TernWire

/// Real files: the seeds' setkey snippets, what the integration harness generates, and the
/// repository's examples/setkey. Each must parse and apply to a fresh database.
@Suite struct SetkeyFixtureTests {
    func load(_ path: String) throws -> (statements: [SetkeyStatement], db: SecurityDatabaseConfig) {
        // The contents, not SetkeyFile.load: the checkout's file modes are not the point here.
        let text = try #require(readText(path), "cannot read \(path)")
        let s = try SetkeyParser.parse(text, file: path)
        var db = SecurityDatabaseConfig()
        try SetkeyFile.apply(s, to: &db)
        return (s, db)
    }

    func fixture(_ name: String) -> String { testsDirectory() + "/Fixtures/" + name }

    // MARK: seeds

    @Test func seed002CastorGif() throws {
        let (_, db) = try load(fixture("seed002-castor-gif.setkey"))
        #expect(db.policies.count == 2)
        #expect(db.policies.allSatisfy { $0.upperProtocol == 4 }, "ipencap is protocol 4")
    }

    @Test(arguments: ["seed003-handbook-gateway1.setkey", "seed003-handbook-gateway2.setkey"])
    func seed003Handbook(_ name: String) throws {
        let (s, db) = try load(fixture(name))
        #expect(s.count == 2)
        #expect(db.policies.count == 2)
        for p in db.policies {
            #expect(p.upperProtocol == 4)
            #expect(p.source.length == 32 && p.destination.length == 32)
            guard case .protect(let rules) = p.action, rules.count == 1 else { Issue.record("\(p.action)"); continue }
            #expect(rules[0].mode == .tunnel && rules[0].level == .require)
            // The tunnel runs between the same two hosts the selector names.
            #expect(rules[0].tunnelSource == p.source.address && rules[0].tunnelDestination == p.destination.address)
        }
    }

    @Test func seed003BrokenAcrossLinesEqualsOneLine() throws {
        // Gateway 2's out policy is gateway 1's in policy with the direction flipped.
        let (_, one) = try load(fixture("seed003-handbook-gateway1.setkey"))
        let (_, two) = try load(fixture("seed003-handbook-gateway2.setkey"))
        var flipped = one.policies[1]
        flipped.direction = .outbound
        #expect(two.policies[0] == flipped)
    }

    @Test func seed004GluonAndMason() throws {
        let (_, gluon) = try load(fixture("seed004-gluon.setkey"))
        let (_, mason) = try load(fixture("seed004-mason.setkey"))
        #expect(gluon.policies.count == 2 && mason.policies.count == 2)
        #expect(gluon.policies[0].destination == IPPrefix.any(.v4))
        #expect(gluon.policies.allSatisfy { $0.upperProtocol == nil })
        // mason's `any` addresses are 0.0.0.0/0: its out policy is gluon's in policy, flipped.
        var flipped = gluon.policies[1]
        flipped.direction = .outbound
        #expect(mason.policies[0] == flipped)
    }

    // MARK: harness

    static let harnessFixtures = [
        "harness-tunnel-gcm-a.setkey", "harness-tunnel-udp-a.setkey", "harness-transport-cbc-a.setkey",
        "harness-transport-udp-a.setkey", "harness-chacha20-a.setkey", "harness-null-sha512-a.setkey",
        "harness-gmac-a.setkey", "harness-ah-a.setkey", "harness-ipv6-in-ipv4-a.setkey", "harness-ipv6-a.setkey",
        "harness-replay-esn-a.setkey", "harness-demo-a.setkey", "harness-demo-b.setkey",
    ]

    @Test(arguments: harnessFixtures)
    func harnessGenerated(_ name: String) throws {
        let (s, db) = try load(fixture(name))
        #expect(s.first?.command == .flush(nil))
        #expect(db.associations.count == 2)
        #expect(db.policies.count == 2)
        for sa in db.associations {
            #expect(sa.encryptionKey.count == sa.encryption.keyMaterialLength)
            #expect(sa.integrityKey.count == sa.integrity.keyLength)
        }
    }

    @Test func harnessSuitesMapToTheRightTransforms() throws {
        func first(_ name: String) throws -> SAConfig { try #require(try load(fixture(name)).db.associations.first) }
        #expect(try first("harness-tunnel-gcm-a.setkey").encryption.description == "aes-gcm-16-256")
        #expect(try first("harness-transport-cbc-a.setkey").encryption.description == "aes-cbc-256")
        #expect(try first("harness-transport-cbc-a.setkey").integrity == .hmacSHA256_128)
        #expect(try first("harness-chacha20-a.setkey").encryption.description == "chacha20-poly1305")
        #expect(try first("harness-null-sha512-a.setkey").integrity == .hmacSHA512_256)
        let gmac = try first("harness-gmac-a.setkey")
        #expect(gmac.encryption.description == "aes-gmac-256")
        #expect(gmac.integrity == .none)
        let ah = try first("harness-ah-a.setkey")
        #expect(ah.proto == .ah && ah.integrity == .hmacSHA256_128 && ah.encryption == .null)
        let udp = try first("harness-transport-udp-a.setkey")
        #expect(udp.encapsulation == .udp(sourcePort: 4500, destinationPort: 4500) && udp.mode == .transport)
        let esn = try first("harness-replay-esn-a.setkey")
        #expect(esn.replayWindow == 1024 && esn.extendedSequenceNumbers)
        let v6 = try load(fixture("harness-ipv6-in-ipv4-a.setkey")).db
        #expect(v6.policies[0].source.family == .v6)
        #expect(v6.associations[0].source.family == .v4)
    }

    // MARK: examples/setkey

    static let examples = [
        "site-to-site-gateway-a.setkey", "site-to-site-gateway-b.setkey", "transport-host-to-host.setkey",
        "ah-transport.setkey", "esp-in-udp.setkey", "handbook-ipencap-for-tern.setkey",
    ]

    @Test(arguments: examples)
    func example(_ name: String) throws {
        let (_, db) = try load(repositoryRoot() + "/examples/setkey/" + name)
        #expect(!db.associations.isEmpty)
        #expect(!db.policies.isEmpty)
    }

    @Test func everyExampleIsTested() throws {
        let listed = Set(SetkeyFixtureTests.examples)
        let present = Set(try #require(listDirectory(repositoryRoot() + "/examples/setkey")).filter { $0.hasSuffix(".setkey") })
        #expect(present == listed)
    }

    @Test func gatewaysAgree() throws {
        // Both gateways hold the same SAs; each gateway's out policy is the other's in policy.
        let a = try load(repositoryRoot() + "/examples/setkey/site-to-site-gateway-a.setkey").db
        let b = try load(repositoryRoot() + "/examples/setkey/site-to-site-gateway-b.setkey").db
        #expect(a.associations == b.associations)
        for p in a.policies {
            var mirror = p
            mirror.direction = p.direction == .outbound ? .inbound : .outbound
            #expect(b.policies.contains(mirror), "\(p.source) → \(p.destination) \(p.direction)")
        }
        #expect(a.policies.contains { $0.priority == PolicyConfig.defaultPriority - 100 && $0.action == .discard })
    }

    @Test func espInUDPExample() throws {
        let db = try load(repositoryRoot() + "/examples/setkey/esp-in-udp.setkey").db
        #expect(db.associations.allSatisfy { $0.encapsulation == .udp(sourcePort: 4500, destinationPort: 4500) })
    }
}
