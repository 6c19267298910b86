import Testing
import TernConfig
import TernCrypto
import TernIKE
import TernDataPlane
import TernWire

func swanctlConfig(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> SwanctlConfiguration? {
    do {
        return try SwanctlLoader.configuration(from: SwanctlParser.parse(text: text, file: swanctlFile))
    } catch {
        Issue.record("unexpected error: \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

func swanctlConfigError(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        let c = try SwanctlLoader.configuration(from: SwanctlParser.parse(text: text, file: swanctlFile))
        Issue.record("expected an error, got \(c.connections.count) connections", sourceLocation: sourceLocation)
        return nil
    } catch {
        return error
    }
}

/// One connection with `connKeys` and a child `c` with `childKeys`.
func conn(_ connKeys: String = "", child childKeys: String? = nil) -> String {
    "connections {\n gw {\n\(connKeys)\n" + (childKeys.map { " children {\n  c {\n\($0)\n  }\n }\n" } ?? "") + " }\n}\n"
}

func firstConnection(_ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ConnectionPolicy? {
    let c = swanctlConfig(text, sourceLocation: sourceLocation)?.connections.first
    if c == nil { Issue.record("no connection", sourceLocation: sourceLocation) }
    return c
}

/// An identity as `id =` parses it (the model keeps identities parsed).
func identity(_ text: String) -> Identity { try! Identity(parsing: text) }

func firstChild(_ keys: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ChildPolicy? {
    firstConnection(conn(child: keys), sourceLocation: sourceLocation)?.children.first
}

/// Defaults, checked against strongSwan 5.9.14's swanctl.opt and vici_config.c.
@Suite struct SwanctlDefaultsTests {
    @Test func minimalConnection() throws {
        let parsed = try #require(swanctlConfig("connections {\n gw {\n  children { c { } }\n }\n}\n"))
        let c = try #require(parsed.connections.first)
        #expect(c.name == "gw")
        let source = parsed.source(of: c)
        #expect(source.location == at(2, 2))
        #expect(source.local == [at(2, 2)] && source.remote == [at(2, 2)], "default rounds point at the connection")
        #expect(source.child("c") == at(3, 14))
        #expect(c.version == 0)                        // version = 0
        #expect(c.localAddresses.isEmpty)              // local_addrs = %any (no restriction)
        #expect(c.remoteAddresses == [.any])               // remote_addrs = %any
        #expect(c.localPort == 500)                    // local_port = 500
        #expect(c.remotePort == 500)                   // remote_port = 500
        #expect(c.proposalSpec == ["default"])         // proposals = default
        #expect(c.proposals == (try ProposalParser.parse("default", for: .ike)))
        #expect(c.vips.isEmpty)
        #expect(c.pull)                                // pull = yes
        #expect(c.dscp == 0)                           // dscp = 000000
        #expect(!c.forceEncapsulation)                 // encap = no
        #expect(c.mobike)                              // mobike = yes
        #expect(c.dpdDelay == 0)                       // dpd_delay = 0s
        #expect(c.dpdTimeout == 0)                     // dpd_timeout = 0s
        #expect(c.fragmentation == .yes)               // fragmentation = yes
        #expect(c.certificates.sendCertificateRequest) // send_certreq = yes
        #expect(c.certificates.sendCertificate == .ifAsked)   // send_cert = ifasked
        #expect(c.certificates.revocation == .relaxed)        // revocation = relaxed
        #expect(c.keyingTries == 1)                    // keyingtries = 1
        #expect(c.unique == .no)                       // unique = no
        #expect(c.reauthTime == 0)                     // reauth_time = 0s
        #expect(c.rekeyTime == 14_400)                 // rekey_time = 4h
        #expect(c.overTime == 1440)                    // over_time = 10% of rekey_time
        #expect(c.randTime == 1440)                    // rand_time = over_time (≤ half of rekey_time)
        #expect(c.pools.isEmpty)
        #expect(c.local.count == 1 && c.remote.count == 1)
        let local = try #require(c.local.first)
        #expect(local.auth == "pubkey" && local.id == nil && local.round == 0)

        let ch = try #require(c.children.first)
        #expect(ch.name == "c")
        #expect(ch.localSelectors == [.dynamic] && ch.remoteSelectors == [.dynamic])   // local_ts/remote_ts = dynamic
        #expect(ch.proposalSpec == ["default"] && ch.ahProposals.isEmpty)
        #expect(ch.mode == .tunnel)
        #expect(ch.startAction == .none && ch.dpdAction == .clear && ch.closeAction == .none)
        #expect(ch.rekeyTime == 3600 && ch.lifeTime == 3960 && ch.randTime == 360)
        #expect(ch.rekeyBytes == 0 && ch.lifeBytes == 0 && ch.randBytes == 0)
        #expect(ch.rekeyPackets == 0 && ch.lifePackets == 0 && ch.randPackets == 0)
        #expect(ch.replayWindow == 32 && ch.reqid == 0 && !ch.ipcomp && ch.inactivity == 0)
        #expect(ch.updown == nil && !ch.hostaccess && ch.policies)
        // Apart from swanctl's own defaults (any peer, default proposals, pubkey rounds), a section
        // without keys is the engine type's defaults: those are strongSwan's.
        var child = ChildPolicy(name: "c", proposals: try ProposalParser.parse("default", for: .esp))
        child.proposalSpec = ["default"]
        var expected = ConnectionPolicy(name: "gw", remoteAddresses: [.any], proposals: try ProposalParser.parse("default", for: .ike),
                                        children: [child])
        expected.proposalSpec = ["default"]
        expected.local = [AuthRound()]; expected.remote = [AuthRound()]
        #expect(c == expected, "a section without keys is the engine's defaults")
    }

    @Test func reauthTimeDisablesTheDefaultRekey() throws {
        let c = try #require(firstConnection(conn("reauth_time = 2h")))
        #expect(c.rekeyTime == 0 && c.reauthTime == 7200 && c.overTime == 720 && c.randTime == 720)
    }

    @Test func overAndRandTimeFollowTheLongerAndShorterTime() throws {
        let c = try #require(firstConnection(conn("reauth_time = 10h\nrekey_time = 1h")))
        #expect(c.overTime == 3600)          // 10% of the longer
        #expect(c.randTime == 1800)          // min(over, half of the shorter)
        let d = try #require(firstConnection(conn("rekey_time = 100s\nover_time = 500s")))
        #expect(d.randTime == 50)            // never more than half the rekey time
    }

    @Test func childLifetimesDeriveFromEachOther() throws {
        // strongSwan divides in floating point and truncates: 1100 / 1.1 = 999.999… → 999.
        let onlyLife = try #require(firstChild("life_time = 1100"))
        #expect(onlyLife.rekeyTime == 999 && onlyLife.lifeTime == 1100 && onlyLife.randTime == 101)
        let roundLife = try #require(firstChild("life_time = 66m"))
        #expect(roundLife.rekeyTime == 3599 && roundLife.lifeTime == 3960 && roundLife.randTime == 361)
        let onlyRekey = try #require(firstChild("rekey_time = 20m"))
        #expect(onlyRekey.rekeyTime == 1200 && onlyRekey.lifeTime == 1320 && onlyRekey.randTime == 120)
        let bytes = try #require(firstChild("rekey_bytes = 1g"))
        #expect(bytes.rekeyBytes == 1 << 30)
        #expect(bytes.lifeBytes == 1_181_116_006)          // (2^30 × 1.1) truncated
        #expect(bytes.randBytes == 1_181_116_006 - (1 << 30))
        let packets = try #require(firstChild("life_packets = 11000\nrand_packets = 5"))
        #expect(packets.rekeyPackets == 10000 && packets.lifePackets == 11000 && packets.randPackets == 5)
        let inverted = try #require(firstChild("rekey_time = 2h\nlife_time = 1h"))
        #expect(inverted.randTime == 0, "life − min(life, rekey)")
    }

    @Test func ahOnlyChildProposesNoESP() throws {
        let c = try #require(firstChild("ah_proposals = sha256-modp2048"))
        #expect(c.ahProposalSpec == ["sha256-modp2048"] && c.ahProposals.count == 1 && c.proposalSpec.isEmpty && c.proposals.isEmpty)
    }
}

extension ConnectionPolicy {
    func with(children: [ChildPolicy]) -> ConnectionPolicy {
        var c = self
        c.children = children
        return c
    }
}

/// Each value reader, through the keys that use it.
@Suite struct SwanctlValueTests {
    @Test(arguments: [("3600", 3600), ("60s", 60), ("5m", 300), ("1h", 3600), ("1d", 86_400), ("2 h", 7200),
                      ("0", 0), ("10S", 10), ("0x10", 16)] as [(String, UInt64)])
    func durations(_ text: String, _ seconds: UInt64) throws {
        #expect(firstChild("inactivity = \(text)")?.inactivity == seconds)
    }

    @Test(arguments: ["1w", "h", "-5", "1.5h", "5mm", "010", "99999999999999999999"])
    func badDurations(_ text: String) throws {
        let e = try #require(swanctlConfigError(conn(child: "rekey_time = \(text)")))
        #expect(e.location == at(6, 14))
        #expect(e.message.contains("rekey_time"))
        #expect(e.hint?.contains("1h") == true)
    }

    @Test(arguments: [("65536", 65536), ("64k", 65536), ("500m", 500 << 20), ("1g", 1 << 30), ("2G", 2 << 30), ("1 K", 1024)]
          as [(String, UInt64)])
    func byteCounts(_ text: String, _ bytes: UInt64) throws {
        #expect(firstChild("rekey_bytes = \(text)")?.rekeyBytes == bytes)
    }

    @Test(arguments: ["1kb", "500MB", "1t", "x"])
    func badByteCounts(_ text: String) throws {
        let e = try #require(swanctlConfigError(conn(child: "life_bytes = \(text)")))
        #expect(e.location == at(6, 14))
        #expect(e.hint?.contains("k, m or g") == true)
    }

    @Test(arguments: [("yes", true), ("no", false), ("true", true), ("FALSE", false), ("1", true), ("0", false),
                      ("enabled", true), ("disabled", false)] as [(String, Bool)])
    func booleans(_ text: String, _ value: Bool) throws {
        #expect(firstConnection(conn("mobike = \(text)"))?.mobike == value)
    }

    @Test(arguments: ["on", "off", "y", "2"])
    func badBooleans(_ text: String) throws {
        let e = try #require(swanctlConfigError(conn("encap = \(text)")))
        #expect(e.location == at(3, 9))
        #expect(e.hint?.contains("yes or no") == true)
    }

    @Test func addressLists() throws {
        let c = try #require(firstConnection(conn(
            "local_addrs = 192.0.2.1, 2001:db8::1 ,198.51.100.0/24, 203.0.113.1-203.0.113.9, %any6, vpn-gw.example.com\nremote_addrs = %any4")))
        #expect(c.localAddresses == [
            .address(IPAddress("192.0.2.1")!), .address(IPAddress("2001:db8::1")!), .prefix(IPPrefix("198.51.100.0/24")!),
            .range(IPAddress("203.0.113.1")!, IPAddress("203.0.113.9")!), .address(.unspecified(.v6)), .hostname("vpn-gw.example.com"),
        ])
        #expect(c.remoteAddresses == [.address(.unspecified(.v4))])
    }

    @Test func badAddressPointsAtTheItem() throws {
        let e = try #require(swanctlConfigError(conn("remote_addrs = 192.0.2.1, 192.0.2.300/24")))
        #expect(e.location == at(3, 27))
        #expect(e.message.contains("192.0.2.300/24"))
        let mixed = try #require(swanctlConfigError(conn("remote_addrs = 192.0.2.1-2001:db8::1")))
        #expect(mixed.message.contains("different address families"))
        let junk = try #require(swanctlConfigError(conn("local_addrs = a b")))
        #expect(junk.message.contains("not an address"))
    }

    @Test func trafficSelectors() throws {
        let c = try #require(firstChild(
            "local_ts = 10.1.0.0/16[tcp/443], dynamic, 10.0.0.1-10.0.0.9, 0.0.0.0/0[udp], ::/0, 192.0.2.7, 10.2.0.0/24[sctp/1000-2000], dynamic[udp/%any], 10.3.0.0/24[47], 10.4.0.0/16[any/http]\nremote_ts = 2001:db8::/32[ipv6-icmp]"))
        #expect(c.localSelectors == [
            SelectorPolicy(prefix: IPPrefix("10.1.0.0/16")!, ipProtocol: 6, startPort: 443, endPort: 443),
            .dynamic,
            SelectorPolicy(.range(IPAddress("10.0.0.1")!, IPAddress("10.0.0.9")!)),
            SelectorPolicy(prefix: .any(.v4), ipProtocol: 17),
            SelectorPolicy(prefix: .any(.v6)),
            SelectorPolicy(prefix: IPPrefix("192.0.2.7/32")!),
            SelectorPolicy(prefix: IPPrefix("10.2.0.0/24")!, ipProtocol: 132, startPort: 1000, endPort: 2000),
            SelectorPolicy(.dynamic, ipProtocol: 17),
            SelectorPolicy(prefix: IPPrefix("10.3.0.0/24")!, ipProtocol: 47),
            SelectorPolicy(prefix: IPPrefix("10.4.0.0/16")!, startPort: 80, endPort: 80),
        ])
        #expect(c.remoteSelectors == [SelectorPolicy(prefix: IPPrefix("2001:db8::/32")!, ipProtocol: 58)])
    }

    @Test(arguments: [
        ("10.1.0.0/33", "not a subnet"), ("10.1.0/24", "not a subnet"), ("2001:db8::g/32", "not a subnet"),
        ("10.0.0.9-10.0.0.1", "above"), ("10.0.0.1-2001:db8::1", "mixes"), ("10.0.0.0/8[foo]", "unknown protocol"),
        ("10.0.0.0/8[tcp/70000]", "bad port"), ("10.0.0.0/8[tcp/20-10]", "bad port"), ("10.0.0.0/8[tcp", "without a matching"),
        ("10.0.0.0/8[tcp/opaque]", "OPAQUE"), ("10.0.0.0/8[300]", "unknown protocol"),
    ])
    func badTrafficSelectors(_ text: String, _ problem: String) throws {
        let e = try #require(swanctlConfigError(conn(child: "remote_ts = 10.9.0.0/16, \(text)")))
        #expect(e.location.line == 6)
        #expect(e.location.column >= 26, "points at the second item, not the first")
        #expect(e.message.contains(problem), "\(e)")
        #expect(e.message.contains("remote_ts"))
    }

    @Test(arguments: [
        ("none", ChildStartAction.none, ChildDPDAction.clear, ChildCloseAction.none), ("clear", .none, .clear, .none),
        ("trap", .trap, .trap, .trap), ("route", .trap, .trap, .trap), ("start", .start, .restart, .start),
        ("restart", .start, .restart, .start), ("trap|start", .trapAndStart, .restart, .start),   // the engine's reading: restart/start install what the trap waits for
    ])
    func actionWords(_ word: String, _ start: ChildStartAction, _ dpd: ChildDPDAction, _ close: ChildCloseAction) throws {
        let c = try #require(firstChild("start_action = \(word)\ndpd_action = \(word)\nclose_action = \(word)"))
        #expect(c.startAction == start && c.dpdAction == dpd && c.closeAction == close)
    }

    @Test func badActionListsTheWords() throws {
        let e = try #require(swanctlConfigError(conn(child: "dpd_action = hold")))
        #expect(e.location == at(6, 14))
        #expect(e.hint?.contains("clear, trap or restart") == true)
    }

    @Test func enums() throws {
        let c = try #require(firstConnection(conn("fragmentation = Force\nunique = replace\nsend_cert = always\ndscp = 101110", child: "mode = transport")))
        #expect(c.fragmentation == .force && c.unique == .replace && c.certificates.sendCertificate == .always && c.dscp == 46)
        #expect(c.children.first?.mode == .transport)
        let e = try #require(swanctlConfigError(conn("unique = sometimes")))
        #expect(e.location == at(3, 10))
        #expect(e.hint == "write one of: no, never, keep, replace")
    }

    @Test func numbersAndPorts() throws {
        let c = try #require(firstConnection(conn("local_port = 4500\nremote_port = 0x1194\nkeyingtries = 0", child: "replay_window = 1024\nreqid = 7")))
        #expect(c.localPort == 4500 && c.remotePort == 0x1194 && c.keyingTries == 0)
        #expect(c.children.first?.replayWindow == 1024 && c.children.first?.reqid == 7)
        let e = try #require(swanctlConfigError(conn("local_port = 65536")))
        #expect(e.message.contains("larger than 65535"))
    }

    @Test func authRoundsSortByRoundStably() throws {
        let c = try #require(firstConnection(conn("""
            local-b { round = 2
              auth = eap-mschapv2
              eap_id = alice }
            local-a { round = 1
              auth = psk
              id = gw@example.com }
            local-c { round = 2
              auth = xauth }
            remote { auth = pubkey
              id = "C=CH, O=strongSwan, CN=peer"
              cacerts = ca.pem, 0x3082
              cacert-2 { file = /etc/ca2.pem }
              groups = admins, ops
              revocation = strict }
            """)))
        #expect(c.local.map(\.auth) == ["psk", "eap-mschapv2", "xauth"])
        #expect(c.local.map(\.round) == [1, 2, 2])
        #expect(c.local[1].eapID == "alice")
        #expect(c.remote.count == 1)
        let r = c.remote[0]
        #expect(r.id == identity("C=CH, O=strongSwan, CN=peer"))
        #expect(r.cacerts == ["ca.pem", "0x3082", "/etc/ca2.pem"])
        #expect(r.groups == ["admins", "ops"] && c.certificates.revocation == .strict)
    }

    @Test func badAuthMethod() throws {
        let e = try #require(swanctlConfigError(conn("local { auth = password }")))
        #expect(e.location == at(3, 16))
    }
}

/// Keys Tern cannot honour: errors when they change security, warnings otherwise; unknown keys are errors.
@Suite struct SwanctlUnsupportedKeyTests {
    @Test(arguments: [
        (conn("ppk_id = qkd"), "ppk_id"), (conn("ppk_required = yes"), "ppk_required"), (conn("if_id_in = 42"), "if_id_in"),
        (conn("mediation = yes"), "mediation"), (conn("childless = force"), "childless"),
        (conn(child: "sha256_96 = yes"), "sha256_96"), (conn(child: "mark_in = 42/0xff"), "mark_in"),
        (conn(child: "mark_out = %unique"), "mark_out"), (conn(child: "interface = eth0"), "interface"),
        (conn(child: "priority = 100"), "priority"), (conn(child: "tfc_padding = mtu"), "tfc_padding"),
        (conn(child: "if_id_out = %unique"), "if_id_out"), (conn(child: "label = system_u:object_r:ipsec_spd_t:s0"), "label"),
        (conn("local { cert-1 { handle = 0a1b } }"), "handle"),
    ])
    func securityRelevantKeysAreErrors(_ text: String, _ key: String) throws {
        let e = try #require(swanctlConfigError(text))
        #expect(e.message.contains("`\(key)"))
        #expect(e.message.contains("not supported by Tern"))
        #expect(e.location.line >= 3)
    }

    @Test func harmlessValuesOfThoseKeysAreAccepted() throws {
        let c = swanctlConfig(conn("ppk_required = no\nif_id_in = 0\nmediation = no\nchildless = allow",
                                   child: "sha256_96 = no\nmark_in = 0/0x00000000\nif_id_out = 0\npriority = 0\ntfc_padding = 0"))
        #expect(c?.warnings == [])
    }

    @Test func versionOneAndAggressiveAreRefused() throws {
        let v1 = try #require(swanctlConfigError(conn("version = 1")))
        #expect(v1.location == at(3, 11))
        #expect(v1.message.contains("IKEv1"))
        let aggressive = try #require(swanctlConfigError(conn("aggressive = yes")))
        #expect(aggressive.location == at(3, 1))
        #expect(aggressive.message.contains("not supported by Tern"))
    }

    @Test func ignoredKeysWarnOnlyWhenNotDefault() throws {
        let c = try #require(swanctlConfig(conn("ocsp = both", child: "copy_df = no\nhw_offload = no\ncopy_dscp = out")))
        #expect(c.warnings.count == 2)
        #expect(c.warnings.map(\.location) == [at(3, 1), at(6, 1)])
        #expect(c.warnings[0].message.contains("ocsp"))
    }

    @Test func unknownKeyIsAnErrorAsInStrongSwan() throws {
        let e = try #require(swanctlConfigError(conn(child: "remote_tss = 10.0.0.0/8")))
        #expect(e.location == at(6, 1))
        #expect(e.message == "unknown key `remote_tss` in child `c` of connection `gw`")
        #expect(e.hint?.hasPrefix("did you mean `remote_ts`?") == true)
    }

    @Test func unknownSectionsAreErrors() throws {
        let e = try #require(swanctlConfigError(conn("children2 { }")))
        #expect(e.location == at(3, 1))
    }

    @Test func unknownTopLevelSectionWarnsUnlessItIsATemplate() throws {
        let c = try #require(swanctlConfig("conections { }\ntemplates { t { version = 2 } }\nconnections { a : templates.t { } }\n"))
        #expect(c.warnings.map(\.location) == [at(1, 1)])
        #expect(c.connections.first?.version == 2)
    }
}

/// Secrets and pools.
@Suite struct SwanctlCredentialTests {
    @Test func secretEncodings() throws {
        let c = try #require(swanctlConfig("""
            secrets {
              ike-1 { id = a
                secret = "quoted secret" }
              ike-2 { id-x = b
                id-y = c
                secret = 0x00:01ff }
              eap-3 { secret = 0sAAEC/w== }
              ike-4 { secret = bare }
              private-5 { file = key.pem
                secret = pass }
            }
            """))
        #expect(c.secrets.map(\.kind) == [.ike, .ike, .eap, .ike, .private])
        #expect(c.secrets[0].ids == ["a"] && c.secrets[0].secret?.bytes == Array("quoted secret".utf8))
        #expect(c.secrets[1].ids == ["b", "c"] && c.secrets[1].secret?.bytes == [0, 1, 0xff])
        #expect(c.secrets[2].secret?.bytes == [0, 1, 2, 0xff])
        #expect(c.secrets[3].secret?.bytes == Array("bare".utf8))
        #expect(c.secrets[4].file == "key.pem")
        #expect("\(c.secrets[0].secret!)" == "<13 secret bytes>")
        #expect(!"\(c.secrets[0])".contains("quoted"), "the model's description never shows the secret")
    }

    @Test func badHexDoesNotQuoteTheSecret() throws {
        let e = try #require(swanctlConfigError("secrets {\n ike { secret = 0xnothex }\n}\n"))
        #expect(e.location == at(2, 17))
        #expect(!e.description.contains("nothex"))
    }

    @Test func sharedSecretWithoutSecretIsAnError() throws {
        let e = try #require(swanctlConfigError("secrets {\n ike-x { id = a }\n}\n"))
        #expect(e.location == at(2, 2))
    }

    @Test func unknownSecretTypeWarns() throws {
        let c = try #require(swanctlConfig("secrets {\n psk-x { secret = a }\n}\n"))
        #expect(c.secrets.isEmpty && c.warnings.map(\.location) == [at(2, 2)])
    }

    @Test func pools() throws {
        let c = try #require(swanctlConfig("pools {\n p { addrs = 10.3.0.0/24\n dns = 10.1.0.53, 2001:db8::53\n split_include = 10.0.0.0/8 }\n r { addrs = 10.4.0.10-10.4.0.99 }\n}\n"))
        #expect(c.pools.map(\.name) == ["p", "r"])
        #expect(c.pools[0].addrs == ["10.3.0.0/24"])
        #expect(c.pools[0].attributes == ["dns": ["10.1.0.53", "2001:db8::53"], "split_include": ["10.0.0.0/8"]])
        #expect(c.pools[1].addrs == ["10.4.0.10-10.4.0.99"])
        let e = try #require(swanctlConfigError("pools {\n p { addrs = 10.3.0.0/24\n dnss = 1.1.1.1 }\n}\n"))
        #expect(e.location == at(3, 2))
        let noAddrs = try #require(swanctlConfigError("pools {\n p { dns = 1.1.1.1 }\n}\n"))
        #expect(noAddrs.location == at(2, 2))
    }
}

/// The parser builds what the engine runs: admission only refuses and resolves certificates.
@Suite struct SwanctlAdmissionTests {
    @Test func admissionChangesNothingWithoutCertificates() throws {
        let parsed = try #require(swanctlConfig(conn("remote_addrs = 192.0.2.2\nproposals = aes256-sha256-modp2048\n local { auth = psk }\n remote { auth = psk\n id = @b }",
                                                     child: "esp_proposals = aes128gcm16\nlocal_ts = 10.1.0.0/24")))
        let c = try #require(parsed.connections.first)
        #expect(try SwanctlAdmission.admit(c, source: parsed.source(of: c)) == c)
        #expect(c.proposals == (try ProposalParser.parse("aes256-sha256-modp2048", for: .ike)))
        #expect(c.children.first?.proposals == (try ProposalParser.parse("aes128gcm16", for: .esp)))
        #expect(c.remoteIdentity == .fqdn("b") && c.localAuth == .psk && c.remoteAuth == .psk)
    }

    @Test func proposalsTernCannotRunParseButAreRefusedWhereWritten() throws {
        // strongSwan accepts aes256ctr; the file still reads (tern import notes it), ternd refuses it.
        let parsed = try #require(swanctlConfig(conn("proposals = aes256ctr-aesxcbc-modp3072", child: "esp_proposals = aes128ctr-sha256")))
        let c = try #require(parsed.connections.first)
        #expect(c.proposalSpec == ["aes256ctr-aesxcbc-modp3072"] && c.proposals.isEmpty)
        do {
            _ = try SwanctlAdmission.admit(c, source: parsed.source(of: c))
            Issue.record("admitted")
        } catch {
            #expect(error.location == at(2, 2) && error.message.hasPrefix("connection 'gw': proposals: "), "\(error)")
        }
        var ike = c
        ike.proposals = try ProposalParser.parse("default", for: .ike)
        do {
            _ = try SwanctlAdmission.admit(ike, source: { var s = parsed.source(of: c); s.proposalsRefusal = nil; return s }())
            Issue.record("admitted")
        } catch {
            #expect(error.location == parsed.source(of: c).child("c") && error.message.hasPrefix("child 'c' of 'gw': esp_proposals: "), "\(error)")
        }
    }
}
