import Testing
import TernConfig
import TernIKE
import TernWire

@Suite struct SwanctlPoolTests {
    static func pool(_ text: String) throws -> AddressPoolConfig {
        let conf = try SwanctlLoader.configuration(from: SwanctlParser.parse(text: text, file: "swanctl.conf"))
        return try SwanctlAdmission.addressPool(try #require(conf.pools.first))
    }

    @Test func seed001sPoolGivesItsRangeAndAttributes() throws {
        let p = try Self.pool("""
        pools {
            rw_pool {
                addrs = 10.10.0.0/24
                dns = 192.0.2.53, 2001:db8::53
                nbns = 192.0.2.54
                subnet = 10.1.0.0/16, 2001:db8:1::/48
            }
        }
        """)
        #expect(p.name == "rw_pool" && p.first == IPAddress("10.10.0.1") && p.last == IPAddress("10.10.0.254"))
        #expect(p.attributes.map(\.type) == [3, 10, 4, 13, 15])
        #expect(p.attributes[0].value == [192, 0, 2, 53])
        #expect(p.attributes[3].value == [10, 1, 0, 0, 255, 255, 0, 0])
        #expect(p.attributes[4].value == IPAddress("2001:db8:1::")!.bytes + [48])
    }

    @Test func aRangeAndANumericAttribute() throws {
        let p = try Self.pool("pools {\n  v6 {\n    addrs = 2001:db8:5::10-2001:db8:5::1f\n    25 = 192.0.2.7\n  }\n}\n")
        #expect(p.first == IPAddress("2001:db8:5::10") && p.size == 16)
        #expect(p.attributes == [IKEConfigurationAttribute(type: 25, value: [192, 0, 2, 7])])
    }

    @Test func nbnsHasNoIPv6Form() {
        #expect(throws: ConfigError.self) { try Self.pool("pools {\n  p {\n    addrs = 10.0.0.0/24\n    nbns = 2001:db8::1\n  }\n}\n") }
    }
}
