import Testing
import TernConfig
import TernDataPlane
import TernCrypto
import TernWire

/// SAD statements: add (every option), get, delete, deleteall, flush, dump.
@Suite struct SetkeySATests {
    @Test func addTunnelGCM() throws {
        let c = try #require(sa("add 192.0.2.1 192.0.2.2 esp 0x1001 -m tunnel -E aes-gcm-16 \(hexKey(36));"))
        #expect(c.source == ip("192.0.2.1"))
        #expect(c.destination == ip("192.0.2.2"))
        #expect(c.proto == .esp)
        #expect(c.spi == 0x1001)
        #expect(c.mode == .tunnel)
        #expect(c.encapsulation == .none)
        #expect(c.encryption == .aesGCM16(keyBits: 256))
        #expect(c.encryptionKey.bytes == [UInt8](repeating: 0xab, count: 36))
        #expect(c.integrity == .none)
        #expect(c.replayWindow == 128, "no -r keeps Tern's default window")
        #expect(!c.extendedSequenceNumbers)
    }

    @Test func defaultsAndDecimalSPI() throws {
        let c = try #require(sa("add 10.0.0.1 10.0.0.2 esp 4097 -E rijndael-cbc \(hexKey(16)) -A hmac-sha1 \(hexKey(20));"))
        #expect(c.spi == 4097)
        #expect(c.mode == .any)
        #expect(c.reqid == 0)
        #expect(c.encryption == .aesCBC(keyBits: 128))
        #expect(c.integrity == .hmacSHA1_96)
        #expect(c.integrityKey.count == 20)
    }

    @Test func everyExtension() throws {
        let text = """
            add -4n 192.0.2.1 192.0.2.2 esp 0x2000 -m transport -r 64 -u 7 -f nocyclic-seq -f random-pad
                -lh 3600 -ls 3000 -bh 1000000 -bs 900000 -f esn -E aes-gcm-16 \(hexKey(20));
            """
        let c = try #require(sa(text))
        #expect(c.mode == .transport)
        #expect(c.replayWindow == 64)
        #expect(c.reqid == 7)
        #expect(c.extendedSequenceNumbers)
        #expect(c.hardLifetimeSeconds == 3600 && c.softLifetimeSeconds == 3000)
        #expect(c.hardLifetimeBytes == 1_000_000 && c.softLifetimeBytes == 900_000)
        #expect(c.encryption == .aesGCM16(keyBits: 128))
    }

    @Test func replayWindowLimits() throws {
        #expect(sa("add 192.0.2.1 192.0.2.2 esp 0x2000 -r 0 -E aes-gcm-16 \(hexKey(20));")?.replayWindow == 0)
        #expect(sa("add 192.0.2.1 192.0.2.2 esp 0x2000 -r 4096 -E aes-gcm-16 \(hexKey(20));")?.replayWindow == 4096)
        let e = try #require(parseError("add 192.0.2.1 192.0.2.2 esp 0x2000 -r 4097 -E aes-gcm-16 \(hexKey(20));"))
        #expect(e.location.column == 39)
        #expect(e.message.contains("4096"))
        #expect(e.hint?.contains("packets") == true)
        let esn = try #require(parseError("add 192.0.2.1 192.0.2.2 esp 0x2000 -r 0 -f esn -E aes-gcm-16 \(hexKey(20));"))
        #expect(esn.message.contains("replay window"))
    }

    @Test func ipv6SA() throws {
        let c = try #require(sa("add 2001:db8::1 2001:db8::2 esp 0x300 -m tunnel -E chacha20-poly1305 \(hexKey(36));"))
        #expect(c.source == ip("2001:db8::1"))
        #expect(c.encryption == .chacha20Poly1305)
    }

    @Test func espInUDPAsHarnessWritesIt() throws {
        let c = try #require(sa("add 192.0.2.1[4500] 192.0.2.2[4500] esp-udp 0x1001 -m tunnel -E aes-gcm-16 \(hexKey(36));"))
        #expect(c.proto == .esp)
        #expect(c.encapsulation == .udp(sourcePort: 4500, destinationPort: 4500))
        let other = try #require(sa("add 192.0.2.1[4501] 192.0.2.2 esp-udp 0x1001 -E aes-gcm-16 \(hexKey(36));"))
        #expect(other.encapsulation == .udp(sourcePort: 4501, destinationPort: 4500), "a missing port means 4500")
        let plain = try #require(sa("add 192.0.2.1[500] 192.0.2.2[500] esp 0x1001 -E aes-gcm-16 \(hexKey(36));"))
        #expect(plain.encapsulation == .none, "ports are ignored without esp-udp, as in setkey")
        let natoa = try #require(parseError("add 192.0.2.1 192.0.2.2 esp-udp 198.51.100.1 0x1001 -E aes-gcm-16 \(hexKey(36));"))
        #expect(natoa.message.contains("NAT-OA"))
    }

    @Test func ahSA() throws {
        let c = try #require(sa("add 192.0.2.1 192.0.2.2 ah 0x1001 -m transport -A hmac-sha256 \(hexKey(32));"))
        #expect(c.proto == .ah)
        #expect(c.encryption == .null)
        #expect(c.encryptionKey.count == 0)
        #expect(c.integrity == .hmacSHA256_128)
        #expect(parseError("add 192.0.2.1 192.0.2.2 ah 0x1001 -E aes-gcm-16 \(hexKey(36)) -A hmac-sha256 \(hexKey(32));")?
            .message.contains("AH authenticates only") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 ah 0x1001;")?.message.contains("needs an integrity algorithm") == true)
    }

    @Test func quotedKey() throws {
        let c = try #require(sa(#"add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-cbc "0123456789abcdef" -A hmac-sha1 "01234567890123456789";"#))
        #expect(c.encryptionKey.bytes == Array("0123456789abcdef".utf8))
        #expect(c.integrityKey.bytes == Array("01234567890123456789".utf8))
    }

    @Test func getDeleteDeleteall() throws {
        #expect(command("get 192.0.2.1 192.0.2.2 esp 0x1001;") == .get(SAKey(destination: ip("192.0.2.2"), proto: .esp, spi: 0x1001)))
        #expect(command("delete 192.0.2.1 192.0.2.2 ah 4097 -m tunnel;") == .delete(SAKey(destination: ip("192.0.2.2"), proto: .ah, spi: 4097)))
        #expect(command("delete -6 2001:db8::1 2001:db8::2 esp-udp 0x10;") == .delete(SAKey(destination: ip("2001:db8::2"), proto: .esp, spi: 0x10)))
        #expect(command("deleteall 192.0.2.1 192.0.2.2 esp;") == .deleteAll(source: ip("192.0.2.1"), destination: ip("192.0.2.2"), proto: .esp))
        #expect(parseError("delete 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16 \(hexKey(36));")?.message == "delete takes no algorithms")
    }

    @Test func flushAndDump() {
        #expect(command("flush;") == .flush(nil))
        #expect(command("flush esp;") == .flush(.esp))
        #expect(command("flush ah ;") == .flush(.ah))
        #expect(command("dump;") == .dump(nil))
        #expect(command("dump esp;") == .dump(.esp))
        #expect(command("spdflush;") == .spdFlush)
        #expect(command("spddump;") == .spdDump)
        #expect(parseError("flush esp ah;")?.message == "expected `;`, found 'ah'")
    }

    @Test func refusedProtocols() {
        #expect(parseError("add 192.0.2.1 192.0.2.2 ipcomp 0x1001 -C deflate;")?.message.contains("not supported") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp-old 0x1001 -E aes-cbc \(hexKey(16));")?.message.contains("not supported") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 ah-old 0x1001 -A hmac-sha1 \(hexKey(20));")?.message.contains("not supported") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 tcp 0x1001 -A tcp-md5 \"x\";")?.message.contains("not supported") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -C deflate -E aes-gcm-16 \(hexKey(20));")?.message.contains("ipcomp") == true)
    }

    @Test func addressErrors() throws {
        let mixed = try #require(parseError("add 192.0.2.1 2001:db8::2 esp 0x1001 -E aes-gcm-16 \(hexKey(20));"))
        #expect(mixed.location.column == 15)
        #expect(mixed.message.contains("IPv4") && mixed.message.contains("IPv6"))
        #expect(parseError("add 192.0.2.1/32 192.0.2.2 esp 0x1001 -E aes-gcm-16 \(hexKey(20));")?.message.contains("prefix") == true)
        #expect(parseError("add gw.example.com 192.0.2.2 esp 0x1001 -E aes-gcm-16 \(hexKey(20));")?.hint?.contains("host names") == true)
        #expect(parseError("add 192.0.2.300 192.0.2.2 esp 0x1001 -E aes-gcm-16 \(hexKey(20));")?.message.contains("not a valid") == true)
        #expect(parseError("add fe80::1%eth0 fe80::2 esp 0x1001 -E aes-gcm-16 \(hexKey(20));")?.message.contains("scoped") == true)
        #expect(parseError("add -6 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16 \(hexKey(20));")?.message.contains("-6 was given") == true)
        #expect(parseError("add -x 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16 \(hexKey(20));")?.message.contains("unknown address option") == true)
    }

    @Test func spiErrors() throws {
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1ffffffff -E aes-gcm-16 \(hexKey(20));")?.message.contains("32 bits") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0xzz -E aes-gcm-16 \(hexKey(20));")?.message.contains("expected SPI") == true)
        let reserved = try #require(parseError("add 192.0.2.1 192.0.2.2 esp 255 -E aes-gcm-16 \(hexKey(20));"))
        #expect(reserved.message.contains("reserved"))
        #expect(reserved.location.column == 29)
    }

    @Test func optionErrors() {
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -m sideways -E aes-gcm-16 \(hexKey(20));")?.message.contains("expected mode") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -m tunnel -m tunnel -E aes-gcm-16 \(hexKey(20));")?.message == "-m is given twice")
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -f bogus -E aes-gcm-16 \(hexKey(20));")?.message.contains("unknown flag") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -q -E aes-gcm-16 \(hexKey(20));")?.message.contains("unknown option") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -lh 10 -ls 20 -E aes-gcm-16 \(hexKey(20));")?.message.contains("soft lifetime") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -u x -E aes-gcm-16 \(hexKey(20));")?.message.contains("reqid") == true)
        #expect(parseError("add 192.0.2.1 192.0.2.2 esp 0x1001 -E aes-gcm-16 \(hexKey(20)) junk;")?.message.contains("expected an option") == true)
    }
}
