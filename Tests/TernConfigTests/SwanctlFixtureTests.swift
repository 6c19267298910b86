import Testing
import TernConfig
import TernIKE
import TernDataPlane
import TernWire

/// The swanctl.conf examples of seed 001 (saved verbatim, flattened indentation and all, in
/// Fixtures/swanctl/), parsed into the model.
@Suite struct SwanctlFixtureTests {
    static let directory = testsDirectory() + "/Fixtures/swanctl"

    func fixture(_ name: String) throws -> SwanctlConfiguration {
        let path = Self.directory + "/" + name
        let text = try #require(readText(path), "missing fixture \(name)")
        return try SwanctlLoader.configuration(from: SwanctlParser.parse(text: text, file: name))
    }

    func sitePSK(_ name: String, conn: String, secret: String, local: (String, String, String), remote: (String, String, String)) throws {
        let c = try fixture(name)
        #expect(c.warnings.isEmpty)
        #expect(c.connections.count == 1)
        let k = try #require(c.connections.first)
        #expect(k.name == conn)
        #expect(k.version == 2)
        #expect(k.localAddresses == [.address(IPAddress(local.0)!)])
        #expect(k.remoteAddresses == [.address(IPAddress(remote.0)!)])
        #expect(k.local.map(\.auth) == ["psk"] && k.remote.map(\.auth) == ["psk"])
        #expect(k.local.first?.id == identity(local.1))
        #expect(k.remote.first?.id == identity(remote.1))
        #expect(k.proposalSpec == ["aes256-sha256-modp2048"])
        #expect(k.rekeyTime == 14_400 && k.overTime == 1440 && k.randTime == 1440)
        #expect(k.dpdDelay == 30)
        let child = try #require(k.children.first)
        #expect(k.children.count == 1)
        #expect(child.name == "lan-to-lan")
        #expect(child.localSelectors == [SelectorPolicy(prefix: IPPrefix(local.2)!)])
        #expect(child.remoteSelectors == [SelectorPolicy(prefix: IPPrefix(remote.2)!)])
        #expect(child.proposalSpec == ["aes256gcm128-sha256-modp2048"])
        #expect(child.startAction == .start)
        #expect(child.dpdAction == .restart)
        #expect(child.closeAction == .start, "close_action = restart is strongSwan's alias of start")
        #expect(child.rekeyTime == 3600 && child.lifeTime == 3960 && child.randTime == 360)
        #expect(child.mode == .tunnel)

        #expect(c.secrets.count == 1)
        let s = try #require(c.secrets.first)
        #expect(s.kind == .ike && s.name == secret)
        #expect(s.ids == ["gateway-a@example.com", "gateway-b@example.com"])
        #expect(s.secret?.bytes.count == 51)
        #expect(s.secret?.bytes == Array("CHANGE_THIS_TO_A_STRONG_RANDOM_PSK_64_CHARS_MINIMUM".utf8))
    }

    @Test func gatewayA() throws {
        try sitePSK("seed001-gateway-a-psk.conf", conn: "site-b", secret: "ike-site-b",
                    local: ("203.0.113.1", "gateway-a@example.com", "10.1.0.0/24"),
                    remote: ("198.51.100.1", "gateway-b@example.com", "10.2.0.0/24"))
    }

    @Test func gatewayB() throws {
        try sitePSK("seed001-gateway-b-psk.conf", conn: "site-a", secret: "ike-site-a",
                    local: ("198.51.100.1", "gateway-b@example.com", "10.2.0.0/24"),
                    remote: ("203.0.113.1", "gateway-a@example.com", "10.1.0.0/24"))
    }

    @Test func gatewayACertificates() throws {
        let c = try fixture("seed001-gateway-a-certs.conf")
        #expect(c.warnings.isEmpty && c.secrets.isEmpty)
        let k = try #require(c.connections.first)
        #expect(k.name == "site-b" && k.version == 2)
        #expect(k.local.first?.auth == "pubkey" && k.local.first?.certs == ["gw-a-cert.pem"])
        #expect(k.local.first?.id == identity("gateway-a.example.com"))
        #expect(k.remote.first?.auth == "pubkey" && k.remote.first?.id == identity("gateway-b.example.com"))
        #expect(k.proposalSpec == ["aes256-sha256-x25519"])
        #expect(k.rekeyTime == 14_400 && k.dpdDelay == 0)
        let child = try #require(k.children.first)
        #expect(child.proposalSpec == ["aes256gcm128-modp2048"])
        #expect(child.startAction == .start && child.dpdAction == .restart && child.closeAction == .none)
        #expect(child.localSelectors == [SelectorPolicy(prefix: IPPrefix("10.1.0.0/24")!)])
    }

    @Test func roadwarriorGateway() throws {
        let c = try fixture("seed001-roadwarrior-gateway.conf")
        #expect(c.warnings.isEmpty)
        let k = try #require(c.connections.first)
        #expect(k.name == "roadwarrior")
        #expect(k.localAddresses.isEmpty && k.remoteAddresses == [.any])
        #expect(k.pools == ["rw-pool"])
        #expect(k.local.first?.certs == ["gw-cert.pem"] && k.local.first?.id == identity("vpn.example.com"))
        #expect(k.remote.first?.auth == "eap-mschapv2" && k.remote.first?.eapID == "%any")
        #expect(k.certificates.sendCertificateRequest)
        let child = try #require(k.children.first)
        #expect(child.name == "rw-child")
        #expect(child.localSelectors == [SelectorPolicy(prefix: IPPrefix("10.0.0.0/8")!)])
        #expect(child.remoteSelectors == [.dynamic])
        #expect(child.dpdAction == .clear)

        #expect(c.pools.count == 1)
        #expect(c.pools.first?.name == "rw-pool" && c.pools.first?.addrs == ["10.99.0.0/24"])
        #expect(c.pools.first?.attributes == ["dns": ["10.1.0.53"]])
        #expect(c.secrets.map(\.name) == ["eap-alice", "eap-bob"])
        #expect(c.secrets.map(\.kind) == [.eap, .eap])
        #expect(c.secrets.map(\.ids) == [["alice"], ["bob"]])
        #expect(c.secrets.map { $0.secret?.bytes.count } == [19, 17])
    }

    @Test func roadwarriorClient() throws {
        let c = try fixture("seed001-roadwarrior-client.conf")
        #expect(c.warnings.isEmpty)
        let k = try #require(c.connections.first)
        #expect(k.name == "office")
        #expect(k.remoteAddresses == [.hostname("vpn.example.com")])
        #expect(k.vips == [IPAddress("0.0.0.0")!])
        #expect(k.local.first?.auth == "eap-mschapv2" && k.local.first?.eapID == "alice")
        #expect(k.remote.first?.id == identity("vpn.example.com"))
        let child = try #require(k.children.first)
        #expect(child.name == "office-net")
        #expect(child.localSelectors == [.dynamic])
        #expect(child.remoteSelectors == [SelectorPolicy(prefix: IPPrefix("10.0.0.0/8")!)])
        #expect(child.startAction == .trap && child.dpdAction == .restart)
        #expect(c.secrets.first?.ids == ["alice"] && c.secrets.first?.secret?.bytes.count == 19)
    }

    @Test func xfrmInterfaceIDsAreRefused() throws {
        do {
            _ = try fixture("seed001-xfrm-interface.conf")
            Issue.record("if_id_in was accepted")
        } catch let e as ConfigError {
            #expect(e.location == TernConfig.SourceLocation(file: "seed001-xfrm-interface.conf", line: 7, column: 1))
            #expect(e.message.contains("if_id_in") && e.message.contains("not supported by Tern"))
        }
    }

    @Test func dpdSnippetWithTrailingComments() throws {
        let c = try fixture("seed001-dpd.conf")
        let k = try #require(c.connections.first)
        #expect(k.dpdDelay == 30, "`# Send DPD…` after the value is a comment")
        #expect(k.children.first?.dpdAction == .restart)
    }

    @Test func rekeySnippet() throws {
        let c = try fixture("seed001-rekey.conf")
        let k = try #require(c.connections.first)
        #expect(k.rekeyTime == 14_400)
        let child = try #require(k.children.first)
        #expect(child.rekeyTime == 3600 && child.rekeyBytes == 0 && child.rekeyPackets == 0)
    }
}
