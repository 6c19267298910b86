import Testing
import TernConfig
import TernIKE
import TernWire

private let fixtures = testsDirectory() + "/Fixtures/libreswan"

/// Converts a fixture (and its .secrets when there is one) from disk, as `tern import` does.
private func importFixture(_ name: String, secrets: Bool = false) throws -> LibreswanImport.Result {
    try LibreswanImport.convert(configPath: "\(fixtures)/\(name).conf", secretsPath: secrets ? "\(fixtures)/\(name).secrets" : nil)
}

private func convert(_ conf: String, secrets: String? = nil) throws(ConfigError) -> LibreswanImport.Result {
    try LibreswanImport.convert(config: conf, file: "ipsec.conf", secrets: secrets, secretsFile: "ipsec.secrets")
}

private func convertError(_ conf: String, secrets: String? = nil, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> ConfigError? {
    do {
        let r = try convert(conf, secrets: secrets)
        Issue.record("expected an error, got \(r.connections)", sourceLocation: sourceLocation)
        return nil
    } catch { return error }
}

/// The converted text through Tern's own parser and swanctl model.
private func parsed(_ r: LibreswanImport.Result) throws -> SwanctlConfiguration {
    try SwanctlLoader.configuration(from: SwanctlParser.parse(text: r.text, file: "converted.conf"))
}

/// …and through the mapping ternd loads connections with (certificates are not read).
private func engine(_ s: SwanctlConfiguration) throws -> EngineConfiguration {
    let any = CertificateSource(certificates: { _, _, _ in [] }, hasPrivateKey: nil)
    return try SwanctlAdmission.engineConfiguration(s, certificates: any)
}

private func minimal(_ extra: String, auto: String = "auto=add") -> String {
    "conn c\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n\t\(auto)\n" + extra.split(separator: "\n").map { "\t" + $0 + "\n" }.joined()
}

@Suite struct LibreswanImportTests {
    // MARK: seed 001 section 11, as written

    @Test func seed001SiteToSite() throws {
        let r = try importFixture("seed001-site-to-site")
        _ = r
        let withSecrets = try LibreswanImport.convert(configPath: "\(fixtures)/seed001-site-to-site.conf",
                                                      secretsPath: "\(fixtures)/seed001-site-b.secrets")
        #expect(withSecrets.connections == ["site-b"])
        // The seed's page lost the indentation: said once, nothing else is lost.
        #expect(withSecrets.notes.count == 1 && withSecrets.notes[0].message.contains("first column"))
        #expect(withSecrets.notes[0].location.line == 3)

        let s = try parsed(withSecrets)
        #expect(s.warnings.isEmpty)
        let c = try #require(s.connections.first)
        #expect(c.version == 2)
        #expect(c.localAddresses == [.address(IPAddress("203.0.113.1")!)] && c.remoteAddresses == [.address(IPAddress("198.51.100.1")!)])
        #expect(c.proposalSpec == ["aes256-sha256-modp2048"])
        // ikelifetime=4h with Libreswan's 9m margin (fuzz 100 %): rekey between 3h42m and 3h51m, gone at 4h.
        #expect(c.rekeyTime == 13_860 && c.overTime == 540 && c.randTime == 540)
        #expect(c.dpdDelay == 30 && c.dpdTimeout == 120)
        #expect(c.local[0].auth == "psk" && c.local[0].id == identity("@gateway-a"))
        #expect(c.remote[0].auth == "psk" && c.remote[0].id == identity("@gateway-b"))
        let ch = try #require(c.children.first)
        #expect(ch.localSelectors.map(\.description) == ["10.1.0.0/24"] && ch.remoteSelectors.map(\.description) == ["10.2.0.0/24"])
        // esp=aes256gcm128 with pfs=yes (the default): rekeys use the IKE group, as Libreswan does.
        #expect(ch.proposalSpec == ["aes256gcm16-modp2048"])
        #expect(ch.rekeyTime == 3060 && ch.lifeTime == 3600 && ch.randTime == 540)
        #expect(ch.startAction == .start && ch.dpdAction == .restart && ch.mode == .tunnel)
        #expect(s.secrets.count == 1 && s.secrets[0].ids == ["@gateway-a", "@gateway-b"])
        #expect(s.secrets[0].secret?.bytes == Array("STRONG_RANDOM_KEY_HERE".utf8))

        let e = try engine(s)
        let p = try #require(e.connections.first)
        #expect(p.localAuth == .psk && p.remoteAuth == .psk)
        #expect(p.localIdentity == .fqdn("gateway-a") && p.remoteIdentity == .fqdn("gateway-b"))
        #expect(p.children.first?.startAction == .start)
        #expect(e.sharedKeys.count == 1 && e.sharedKeys[0].owners == [.fqdn("gateway-a"), .fqdn("gateway-b")])
    }

    // MARK: real-world-shaped files

    @Test func openswanTransportAndL2TPWithDefaults() throws {
        let r = try importFixture("openswan-l2tp-and-defaults")
        #expect(r.connections == ["l2tp-psk", "host-b"])
        // config setup's daemon settings, each reported with its line.
        #expect(r.notes.map(\.location.line) == [5, 6, 7])
        let s = try parsed(r)
        let l2tp = try #require(s.connections.first { $0.name == "l2tp-psk" })
        #expect(l2tp.keyingTries == 3 && l2tp.unique == .replace && !l2tp.mobike)
        #expect(l2tp.proposalSpec == ["aes128-sha1-modp2048"])
        #expect(l2tp.rekeyTime == 8 * 3600 - 180 && l2tp.overTime == 180)
        #expect(l2tp.remoteAddresses == [.any] && l2tp.remote[0].id == nil && l2tp.local[0].id == identity("192.0.2.1"))
        let ch = try #require(l2tp.children.first)
        #expect(ch.mode == .transport && ch.proposalSpec == ["aes128-sha1"])      // pfs=no: no group
        #expect(ch.localSelectors.first == SelectorPolicy(.dynamic, ipProtocol: 17, startPort: 1701, endPort: 1701))
        #expect(ch.remoteSelectors.first == SelectorPolicy(.dynamic, ipProtocol: 17, startPort: 0, endPort: 65_535))
        #expect(ch.lifeTime == 3600 && ch.rekeyTime == 3420)
        #expect(ch.dpdAction == .clear && l2tp.dpdDelay == 40 && l2tp.dpdTimeout == 130)
        let host = try #require(s.connections.first { $0.name == "host-b" })
        #expect(host.children.first?.proposalSpec == ["aes128-sha1-modp2048"])   // pfs=yes: the IKE group
        #expect(host.children.first?.startAction == .start && host.remote[0].id == identity("192.0.2.2"))
        let e = try engine(s)
        #expect(e.connections.count == 2)
    }

    @Test func ipv6SitesWithAlsoFragmentsAndSeveralSubnets() throws {
        let r = try importFixture("site-ipv6-also", secrets: true)
        #expect(r.connections == ["v6-site", "v4-over-v6"])   // the fragments are not connections
        let s = try parsed(r)
        let v6 = try #require(s.connections.first { $0.name == "v6-site" })
        #expect(v6.localAddresses == [.address(IPAddress("2001:db8:1::1")!)])
        #expect(v6.proposalSpec == ["aes256gcm16-prfsha256-ecp256", "aes256-sha512-curve25519"])
        #expect(v6.mobike && v6.fragmentation == .yes)
        // ikelifetime=4h, rekeyfuzz=50 %: margin 9m, random part 4m30s.
        #expect(v6.rekeyTime == 14_400 - 540 && v6.randTime == 270)
        #expect(v6.dpdDelay == 10 && v6.dpdTimeout == 60)
        // leftsubnets={a b} × rightsubnet=c: one child per pair, as Libreswan instantiates them.
        #expect(v6.children.map(\.name) == ["v6-site-1x1", "v6-site-2x1"])
        #expect(v6.children.map { $0.localSelectors.map(\.description) } == [["2001:db8:a::/64"], ["2001:db8:b::/64"]])
        #expect(v6.children.allSatisfy { $0.remoteSelectors.map(\.description) == ["2001:db8:c::/64"] })
        #expect(v6.children.allSatisfy { $0.proposalSpec == ["aes256gcm16-aes128gcm16-ecp256-curve25519"] })
        #expect(v6.children.allSatisfy { $0.dpdAction == .restart && $0.lifeTime == 1800 })
        let v4 = try #require(s.connections.first { $0.name == "v4-over-v6" })
        #expect(v4.children.first?.startAction == .trap)
        #expect(v4.dpdDelay == 0)                                  // shared-dpd is not included here
        // ipsec.secrets: the identity pair, the address pair with a hex secret; the RSA line is reported.
        #expect(s.secrets.map(\.ids) == [["@east.example.com", "@west.example.com"], ["2001:db8:1::1", "2001:db8:2::1"]])
        #expect(s.secrets[0].secret?.bytes == Array("v6 site secret with spaces".utf8))
        #expect(s.secrets[1].secret?.bytes == [0x5c, 0x1f, 0x4e, 0x8a, 0x09, 0xb2, 0xd3, 0xc4, 0x7e, 0x6f])
        let rsa = try #require(r.notes.first { $0.message.contains("RSA") })
        #expect(rsa.location.file.hasSuffix("site-ipv6-also.secrets") && rsa.location.line == 4 && rsa.message.contains("pk12util"))
        // config setup strictcrlpolicy=no is the default: nothing to say about it.
        #expect(!r.notes.contains { $0.message.contains("strictcrlpolicy") })
        let e = try engine(s)
        #expect(e.connections.count == 2 && e.sharedKeys.count == 2)
    }

    @Test func certificatesRoadWarriorsAndWhatCannotBeExpressed() throws {
        let r = try importFixture("certs-and-roadwarriors")
        #expect(r.connections == ["roadwarriors", "partner"])
        func noted(_ line: Int, _ text: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
            #expect(r.notes.contains { $0.location.line == line && $0.message.contains(text) }, "line \(line): \(text)", sourceLocation: sourceLocation)
        }
        noted(4, "plutodebug")
        noted(5, "logfile")
        noted(9, "NSS nickname")
        noted(12, "rightca=%same")
        noted(25, "mark=5/0xffffffff")
        noted(26, "vti-interface")
        noted(32, "leftsourceip=203.0.113.1")
        noted(36, "updown")
        noted(37, "sha2-truncbug")
        noted(44, "auto=ignore")
        #expect(r.notes.allSatisfy { $0.location.file.hasSuffix("certs-and-roadwarriors.conf") })
        let s = try parsed(r)
        let rw = try #require(s.connections.first { $0.name == "roadwarriors" })
        #expect(rw.pools == ["roadwarriors-pool"] && rw.remoteAddresses == [.any] && rw.remote[0].id == identity("%any"))
        #expect(s.pools.first?.name == "roadwarriors-pool")
        #expect(rw.local[0].certs == ["gw.example.com.pem"] && rw.local[0].id == nil && rw.certificates.sendCertificate == .always)
        #expect(rw.certificates.revocation == .strict)              // strictcrlpolicy=yes
        let partner = try #require(s.connections.first { $0.name == "partner" })
        #expect(partner.localAddresses.isEmpty)                      // %defaultroute
        #expect(partner.remote[0].id == identity("C=US, O=Partner Inc, CN=vpn.partner.example.net"))
        #expect(partner.children.first?.updown == "/usr/local/sbin/partner-updown")
        // ternd maps both: the certificate gateway and the one that leases addresses from its pool.
        let noCertificates = CertificateSource(certificates: { _, _, _ in [] }, hasPrivateKey: nil)
        _ = try SwanctlAdmission.admit(partner, source: s.source(of: partner), certificates: noCertificates)
        let admitted = try SwanctlAdmission.admit(rw, source: s.source(of: rw), certificates: noCertificates)
        #expect(admitted.pools == ["roadwarriors-pool"])
        let engine = try SwanctlAdmission.engineConfiguration(s, certificates: noCertificates)
        #expect(engine.pools.map(\.name) == ["roadwarriors-pool"])
    }

    // MARK: settings, one by one

    @Test func proposalsInStrongSwanSyntax() throws {
        let cases: [(String, String)] = [
            ("aes256-sha2_256;modp2048", "aes256-sha256-modp2048"),
            ("aes256-sha2_256-modp2048", "aes256-sha256-modp2048"),
            ("aes128-sha1;dh14", "aes128-sha1-modp2048"),
            ("aes_gcm256-sha2_512;dh20", "aes256gcm16-prfsha512-ecp384"),
            ("aes_gcm_c_128-sha2-dh19", "aes128gcm16-prfsha256-ecp256"),
            ("chacha20_poly1305-sha2_256-dh31", "chacha20poly1305-prfsha256-curve25519"),
            ("aes_ctr256-aes_xcbc-modp3072", "aes256ctr-aesxcbc-modp3072"),
            ("aes-sha2_384-modp4096", "aes256-aes128-sha384-modp4096"),
            ("aes256+aes128-sha2_256+sha1-modp2048+dh19", "aes256-aes128-sha256-sha1-modp2048-ecp256"),
            ("aes256gcm16-prfsha384-x25519", "aes256gcm16-prfsha384-curve25519"),
        ]
        for (libreswan, strongswan) in cases {
            let r = try convert(minimal("ike=\(libreswan)"))
            #expect(try parsed(r).connections.first?.proposalSpec == [strongswan], "ike=\(libreswan)")
        }
        let esp: [(String, String)] = [
            ("aes_gcm256-null", "aes256gcm16-modp2048"),
            ("aes256gcm128", "aes256gcm16-modp2048"),
            ("aes_gcm_a-128", "aes128gcm8-modp2048"),
            ("aes128-sha1;modp1536", "aes128-sha1-modp1536"),
            ("aes256-sha2_512", "aes256-sha512-modp2048"),
            ("null-sha2_256", "null-sha256-modp2048"),
        ]
        for (libreswan, strongswan) in esp {
            let r = try convert(minimal("ike=aes256-sha2;modp2048\nesp=\(libreswan)"))
            #expect(try parsed(r).connections.first?.children.first?.proposalSpec == [strongswan], "esp=\(libreswan)")
        }
        let two = try convert(minimal("ike=aes256-sha2;modp2048,aes128-sha1;modp2048\nphase2alg=aes256-sha2,aes128-sha1\npfs=no"))
        let c = try #require(try parsed(two).connections.first)
        #expect(c.proposalSpec == ["aes256-sha256-modp2048", "aes128-sha1-modp2048"])
        #expect(c.children.first?.proposalSpec == ["aes256-sha256", "aes128-sha1"])
        // No group in ike=: Libreswan's default groups, and said so.
        let noGroup = try convert(minimal("ike=aes256-sha2_256"))
        #expect(noGroup.notes.contains { $0.message.contains("no key-exchange group") && $0.location.line == 6 })
        // Legacy and unknown algorithms are errors with the line.
        let des = try #require(convertError(minimal("esp=des-md5")))
        #expect(des.location.line == 6 && des.message.contains("legacy"))
        let unknown = try #require(convertError(minimal("ike=aes256-whirlpool-modp2048")))
        #expect(unknown.message.contains("whirlpool") && unknown.hint != nil)
    }

    @Test func typesAutosAndDPDActions() throws {
        func child(_ extra: String, auto: String = "auto=add") throws -> ChildPolicy? {
            try parsed(try convert(minimal(extra, auto: auto))).connections.first?.children.first
        }
        #expect(try child("type=transport")?.mode == .transport)
        #expect(try child("type=passthrough")?.configuredMode == .pass)
        #expect(try child("type=drop")?.configuredMode == .drop)
        #expect(try child("", auto: "auto=route")?.startAction == .trap)
        #expect(try child("", auto: "auto=ondemand")?.startAction == .trap)
        #expect(try child("", auto: "auto=start")?.startAction == .start)
        #expect(try child("dpddelay=5")?.dpdAction == .trap)            // Libreswan's default dpdaction=hold
        #expect(try child("dpddelay=5\ndpdaction=clear")?.dpdAction == .clear)
        #expect(try child("rekey=no")?.rekeyTime == 0)
        #expect(try child("rekey=no")?.lifeTime == 28_800)
        #expect(try child("salifetime=2h\nrekeymargin=10m\nrekeyfuzz=0%")?.randTime == 0)
        #expect(try child("replay-window=64")?.replayWindow == 64)
        #expect(try child("reqid=7")?.reqid == 7)
        let noAuto = try convert(minimal("", auto: ""))
        #expect(noAuto.notes.contains { $0.message.contains("no auto=") })
        #expect(try #require(convertError(minimal("type=bogus"))).message.contains("type=bogus"))
    }

    @Test func identitiesAndAuthentication() throws {
        func conn(_ extra: String) throws -> ConnectionPolicy? {
            try parsed(try convert(minimal(extra))).connections.first
        }
        let ids = try #require(try conn("leftid=@a.example.com\nrightid=user@example.com"))
        #expect(ids.local[0].id == identity("@a.example.com") && ids.remote[0].id == identity("user@example.com"))
        let defaults = try #require(try conn(""))
        #expect(defaults.local[0].id == identity("192.0.2.1") && defaults.remote[0].id == identity("192.0.2.2"))   // Libreswan's defaults
        let keyid = try #require(try conn("leftid=@#0a0b"))
        #expect(keyid.local[0].id == identity("@#0a0b"))
        let asym = try #require(try conn("leftauth=rsasig\nrightauth=secret"))
        #expect(asym.local[0].auth == "pubkey" && asym.remote[0].auth == "psk")
        let file = try #require(try conn("leftcert=/etc/ipsec.d/certs/gw.pem"))
        #expect(file.local[0].certs == ["/etc/ipsec.d/certs/gw.pem"])
        let null = try convert("conn c\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=null\n\tauto=add\n")
        #expect(null.connections.isEmpty && null.notes.contains { $0.message.contains("authby=null") })
        let v1 = try convert(minimal("ikev2=no"))
        #expect(v1.notes.contains { $0.message.contains("IKEv1") } && v1.connections == ["c"])
    }

    @Test func whichSideIsLocal() throws {
        let conf = "conn c\n\tleft=192.0.2.1\n\tleftsubnet=203.0.113.0/24\n\tright=192.0.2.2\n\trightsubnet=198.51.100.0/24\n\tauthby=secret\n\tauto=add\n"
        let right = try LibreswanImport.convert(config: conf, file: "ipsec.conf", localSide: .right)
        let c = try #require(try parsed(right).connections.first)
        #expect(c.localAddresses == [.address(IPAddress("192.0.2.2")!)] && c.remoteAddresses == [.address(IPAddress("192.0.2.1")!)])
        #expect(c.children.first?.localSelectors.map(\.description) == ["198.51.100.0/24"])
        #expect(c.local[0].id == identity("192.0.2.2") && c.remote[0].id == identity("192.0.2.1"))
        // right=%defaultroute: right is this host, whatever the default says.
        let dr = try convert("conn c\n\tleft=192.0.2.1\n\tright=%defaultroute\n\trightsubnet=198.51.100.0/24\n\tauthby=secret\n\tauto=add\n")
        let d = try #require(try parsed(dr).connections.first)
        #expect(d.localAddresses.isEmpty && d.remoteAddresses == [.address(IPAddress("192.0.2.1")!)])
        #expect(d.children.first?.localSelectors.map(\.description) == ["198.51.100.0/24"])
        #expect(dr.notes.contains { $0.message.contains("right=%defaultroute") && $0.location.line == 3 })
    }

    @Test func pfsYesWithDefaultsIsReported() throws {
        let r = try convert("conn c\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n\tauto=add\n")
        #expect(r.notes.contains { $0.message.contains("pfs=yes") && $0.location.line == 1 })
        #expect(r.notes.contains { $0.message.contains("no ike=") && $0.location.line == 1 })
        #expect(try parsed(r).connections.first?.children.first?.proposalSpec == ["default"])
    }

    @Test func everyUnknownSettingIsReportedWithItsLine() throws {
        let r = try convert(minimal("frobnicate=yes\nleftnexthop=192.0.2.254\nrightnexthop=%defaultroute\nnic-offload=yes"))
        #expect(r.notes.contains { $0.location.line == 6 && $0.message.contains("frobnicate=yes") && $0.message.contains("not a setting the importer knows") })
        #expect(r.notes.contains { $0.location.line == 7 && $0.message.contains("leftnexthop") })
        #expect(r.notes.contains { $0.location.line == 9 && $0.message.contains("nic-offload") })
        #expect(!r.notes.contains { $0.location.line == 8 })   // %defaultroute next hop: nothing lost
        // The notes head the output too.
        #expect(r.text.contains("#   ipsec.conf:6: conn c: frobnicate=yes"))
    }

    @Test func conflictingDefaultAndAlsoPrecedence() throws {
        // The conn's own value beats also=, which beats %default.
        let r = try convert("""
        conn %default
        \tikelifetime=1h
        \tsalifetime=1h
        \tkeyingtries=5
        conn base
        \tikelifetime=2h
        \tsalifetime=2h
        conn c
        \talso=base
        \tleft=192.0.2.1
        \tright=192.0.2.2
        \tauthby=secret
        \tsalifetime=3h
        \tauto=add
        """)
        let c = try #require(try parsed(r).connections.first)
        #expect(c.rekeyTime == 7200 - 540 && c.keyingTries == 5 && c.children.first?.lifeTime == 10_800)
        #expect(r.connections == ["c"])
    }

    @Test func syntaxErrorsHaveFileLineAndHint() throws {
        let alsoMissing = try #require(convertError("conn c\n\talso=nowhere\n\tleft=192.0.2.1\n\tright=192.0.2.2\n"))
        #expect(alsoMissing.location == SourceLocation(file: "ipsec.conf", line: 2, column: 2) && alsoMissing.message.contains("no conn nowhere"))
        let cycle = try #require(convertError("conn a\n\talso=b\nconn b\n\talso=a\n\tleft=192.0.2.1\n\tright=192.0.2.2\n"))
        #expect(cycle.message.contains("includes itself"))
        let dup = try #require(convertError("conn c\n\tleft=192.0.2.1\n\tleft=192.0.2.3\n"))
        #expect(dup.location.line == 3 && dup.message.contains("set twice"))
        let junk = try #require(convertError("conn c\n\tthis is not a setting\n"))
        #expect(junk.location.line == 2 && junk.hint != nil)
        let orphan = try #require(convertError("\tleft=192.0.2.1\n"))
        #expect(orphan.location.line == 1 && orphan.message.contains("before any"))
        let header = try #require(convertError("connection x\n"))
        #expect(header.message.contains("unknown line"))
        let quote = try #require(convertError("conn c\n\tleftid=\"C=US, O=x\n"))
        #expect(quote.message.contains("quote"))
        let subnet = try #require(convertError(minimal("leftsubnet=10.1.0.0/33")))
        #expect(subnet.location.line == 6 && subnet.message.contains("not a subnet"))
        let life = try #require(convertError(minimal("ikelifetime=forever")))
        #expect(life.message.contains("not a duration"))
        let secrets = try #require(convertError(minimal(""), secrets: "@a @b PSK \"x\"\n"))
        #expect(secrets.location == SourceLocation(file: "ipsec.secrets", line: 1, column: 1) && secrets.message.contains(" : "))
        let type = try #require(convertError(minimal(""), secrets: "@a @b : PASSWORD \"x\"\n"))
        #expect(type.message.contains("secret type"))
    }

    @Test func secretsForms() throws {
        let r = try convert(minimal(""), secrets: """
        # comment
        192.0.2.1 192.0.2.2 : PSK "plain"
        : PSK "for anyone"
        %any @peer : PSK 0sc2VjcmV0
        @q : PSK 'back\\slash'
        2001:db8::1 : PSK 'single quoted'
        @user : XAUTH "pw"
        : RSA {
            Modulus: 0x00
            PublicExponent: 0x03
            }
        """)
        let s = try parsed(r)
        #expect(s.secrets.map(\.ids) == [["192.0.2.1", "192.0.2.2"], [], ["@peer"], ["@q"], ["2001:db8::1"]])
        #expect(s.secrets[2].secret?.bytes == Array("secret".utf8))
        #expect(s.secrets[3].secret?.bytes == Array("back\\slash".utf8))   // written as hex
        #expect(s.secrets[4].secret?.bytes == Array("single quoted".utf8))
        #expect(r.notes.contains { $0.location.line == 7 && $0.message.contains("XAUTH") })
        #expect(r.notes.contains { $0.location.line == 8 && $0.message.contains("raw private key") })
    }

    @Test func unindentedSettingsAreReadOnceNoted() throws {
        let r = try convert("conn c\nleft=192.0.2.1\nright=192.0.2.2\nauthby=secret\nauto=add\n")
        #expect(r.connections == ["c"] && r.notes.filter { $0.message.contains("first column") }.count == 1)
    }
}
