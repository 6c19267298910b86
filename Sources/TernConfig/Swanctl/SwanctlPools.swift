import TernVICI
import TernIKE
import TernWire

/// `pools { name { addrs; dns; … } }` → the engine's `AddressPoolConfig`: the range and the
/// CFG_REPLY attributes, mapped by name as strongSwan's vici_attribute.c does (by the family of
/// each value: `dns = 192.0.2.53, 2001:db8::53` gives one INTERNAL_IP4_DNS and one
/// INTERNAL_IP6_DNS).
extension SwanctlAdmission {
    /// The named attributes in the order they go into a CFG_REPLY.
    static let poolAttributeOrder = ["address", "netmask", "dns", "nbns", "dhcp", "server", "subnet", "split_include", "split_exclude"]

    /// A `load-pool` section (vici_attribute.c's layout: `addrs` a value, attributes lists)
    /// checked as the file's `pools` are.
    public static func addressPool(named name: String, vici body: VICIMessage) throws(ConfigError) -> AddressPoolConfig {
        var pools = SwanctlSection(name: "pools", location: SourceLocation(file: "vici:load-pool", line: 1, column: 1))
        pools.add(try SwanctlVICI.section(named: name, from: body, origin: "vici:load-pool:\(name)"))
        var converter = SwanctlCredentialConverter()
        guard let pool = try converter.pools(pools).first else {
            throw ConfigError(location: pools.location, message: "pool '\(name)' is empty")
        }
        return try addressPool(pool)
    }

    public static func addressPool(_ p: PoolConfig) throws(ConfigError) -> AddressPoolConfig {
        guard let text = p.addrs.first else {
            throw ConfigError(location: p.location, message: "pool `\(p.name)` has no `addrs`")
        }
        var attributes: [IKEConfigurationAttribute] = []
        // Attribute keys in a fixed order (the parser keeps a dictionary).
        let keys = poolAttributeOrder + p.attributes.keys.filter { UInt16($0) != nil }.sorted()
        for key in keys {
            guard let values = p.attributes[key] else { continue }
            for v in values {
                if let type = UInt16(key) {
                    // A numeric type: an address or subnet value as bytes (vici_attribute.c).
                    attributes.append(IKEConfigurationAttribute(type: type, value: try rawValue(v, p)))
                    continue
                }
                switch key {
                case "split_include", "split_exclude":
                    continue   // Cisco Unity attributes: strongSwan sends them in IKEv1 only, so nothing goes into an IKEv2 CFG_REPLY
                case "subnet":
                    guard let prefix = IPPrefix(v) ?? IPAddress(v).map({ IPPrefix(host: $0) }) else {
                        throw ConfigError(location: p.location, message: "pool `\(p.name)`: subnet `\(v)` is not a subnet")
                    }
                    attributes.append(subnetAttribute(prefix))
                default:
                    guard let a = IPAddress(v) else {
                        throw ConfigError(location: p.location, message: "pool `\(p.name)`: \(key) `\(v)` is not an address")
                    }
                    guard let type = addressAttributeType(key, a.family) else {
                        throw ConfigError(location: p.location, message: "pool `\(p.name)`: \(key) has no IPv\(a.family == .v4 ? 4 : 6) form",
                                          hint: "nbns and netmask are IPv4 only")
                    }
                    attributes.append(IKEConfigurationAttribute(type: type, value: a.bytes))
                }
            }
        }
        if let (first, last) = SwanctlValue.range(text) {
            return AddressPoolConfig(name: p.name, first: first, last: last, attributes: attributes)
        }
        guard let subnet = IPPrefix(text) else {
            throw ConfigError(location: p.location, message: "pool `\(p.name)`: addrs `\(text)` is not a subnet or range")
        }
        return AddressPoolConfig(name: p.name, subnet: subnet, attributes: attributes)
    }

    /// RFC 7296 §3.15.1 (and strongSwan's private-use SERVER attributes, 23456/23457).
    static func addressAttributeType(_ key: String, _ family: IPAddress.Family) -> UInt16? {
        switch (key, family) {
        case ("address", .v4): 1
        case ("address", .v6): 8
        case ("netmask", .v4): 2
        case ("dns", .v4): 3
        case ("dns", .v6): 10
        case ("nbns", .v4): 4
        case ("dhcp", .v4): 6
        case ("dhcp", .v6): 12
        case ("server", .v4): 23456
        case ("server", .v6): 23457
        default: nil
        }
    }

    /// INTERNAL_IP4_SUBNET: address and netmask; INTERNAL_IP6_SUBNET: address and prefix length.
    static func subnetAttribute(_ p: IPPrefix) -> IKEConfigurationAttribute {
        if p.address.family == .v4 {
            let mask: UInt32 = p.length == 0 ? 0 : ~UInt32(0) << UInt32(32 - p.length)
            return IKEConfigurationAttribute(type: 13, value: p.address.bytes + [UInt8(mask >> 24), UInt8(truncatingIfNeeded: mask >> 16), UInt8(truncatingIfNeeded: mask >> 8), UInt8(truncatingIfNeeded: mask)])
        }
        return IKEConfigurationAttribute(type: 15, value: p.address.bytes + [UInt8(p.length)])
    }

    private static func rawValue(_ v: String, _ p: PoolConfig) throws(ConfigError) -> [UInt8] {
        if let a = IPAddress(v) { return a.bytes }
        if let prefix = IPPrefix(v) { return subnetAttribute(prefix).value }
        throw ConfigError(location: p.location, message: "pool `\(p.name)`: value `\(v)` is not an address or subnet")
    }
}
