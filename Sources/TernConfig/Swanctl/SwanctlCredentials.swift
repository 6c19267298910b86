import TernWire

/// `secrets { }` and `pools { }` → SecretConfig and PoolConfig, as swanctl's load_creds.c and
/// strongSwan's VICI pool handler (vici_attribute.c) read them.
struct SwanctlCredentialConverter {
    var warnings: [ConfigWarning] = []

    /// Section-name prefixes and the kind they define (load_creds.c load_secret; the match is
    /// case-sensitive and the first prefix wins).
    static let secretPrefixes: [(String, SecretKind)] = [
        ("eap", .eap), ("xauth", .xauth), ("ntlm", .ntlm), ("ike", .ike), ("ppk", .ppk), ("private", .private),
        ("rsa", .rsa), ("ecdsa", .ecdsa), ("pkcs8", .pkcs8), ("pkcs12", .pkcs12), ("token", .token),
    ]

    mutating func secrets(_ section: SwanctlSection) throws(ConfigError) -> [SecretConfig] {
        for kv in section.keyValues where !kv.value.isEmpty {
            warnings.append(ConfigWarning(location: kv.location, message: "`\(kv.key)` directly inside `secrets` is ignored (swanctl reads only sections there)"))
        }
        var out: [SecretConfig] = []
        for s in section.subsections {
            guard let kind = Self.secretPrefixes.first(where: { s.name.hasPrefix($0.0) })?.1 else {
                warnings.append(ConfigWarning(location: s.location,
                                              message: "secret `\(s.name)` has no known type prefix (ike, eap, xauth, ntlm, ppk, private, rsa, ecdsa, pkcs8, pkcs12, token) and is ignored, as swanctl ignores it"))
                continue
            }
            if let secret = try self.secret(s, kind: kind) { out.append(secret) }
        }
        return out
    }

    private mutating func secret(_ s: SwanctlSection, kind: SecretKind) throws(ConfigError) -> SecretConfig? {
        var config = SecretConfig(kind: kind, name: s.name, location: s.location)
        let shared: Set<SecretKind> = [.ike, .eap, .xauth, .ntlm, .ppk]
        for sub in s.subsections {
            warnings.append(ConfigWarning(location: sub.location, message: "section `\(sub.name)` inside secret `\(s.name)` is ignored"))
        }
        if kind == .token {
            warnings.append(ConfigWarning(location: s.location, message: "secret `\(s.name)`: PKCS#11 tokens are not supported by Tern; ignored"))
            return nil
        }
        for kv in s.keyValues where !kv.value.isEmpty {
            if kv.key == "secret" {
                config.secret = try SwanctlValue.secret(kv)
            } else if shared.contains(kind) && kv.key.hasPrefix("id") {
                config.ids.append(kv.value)
            } else if !shared.contains(kind) && kv.key == "file" {
                config.file = kv.value
            } else {
                warnings.append(ConfigWarning(location: kv.location, message: "`\(kv.key)` in secret `\(s.name)` is not a key swanctl reads there; ignored"))
            }
        }
        if shared.contains(kind) && config.secret == nil {
            throw ConfigError(location: s.location, message: "secret `\(s.name)` has no `secret`",
                              hint: "add secret = \"…\" (or 0x… hex, 0s… base64), or remove the section")
        }
        if kind == .ntlm, let bytes = config.secret?.bytes, bytes.count != 16 {
            throw ConfigError(location: s.value("secret")?.valueLocation ?? s.location,
                              message: "NTLM secret `\(s.name)` is \(bytes.count) bytes; an NT hash is 16",
                              hint: "write the NT hash, MD4(UTF-16LE(password)), as 0x… hex or 0s… base64")
        }
        return config
    }

    /// The attribute names strongSwan's pools know; a number is a raw attribute type.
    static let poolAttributes: Set<String> = [
        "address", "dns", "nbns", "dhcp", "netmask", "server", "subnet", "split_include", "split_exclude",
    ]

    mutating func pools(_ section: SwanctlSection) throws(ConfigError) -> [PoolConfig] {
        for kv in section.keyValues where !kv.value.isEmpty {
            warnings.append(ConfigWarning(location: kv.location, message: "`\(kv.key)` directly inside `pools` is ignored (pools are sections)"))
        }
        var out: [PoolConfig] = []
        for s in section.subsections {
            var pool = PoolConfig(name: s.name, location: s.location)
            for sub in s.subsections {
                throw ConfigError(location: sub.location, message: "unexpected section `\(sub.name)` in pool `\(s.name)`",
                                  hint: "a pool holds addrs = … and attributes such as dns = …")
            }
            for kv in s.keyValues where !kv.value.isEmpty {
                if kv.key == "addrs" {
                    pool.addrs = [try poolRange(kv)]
                    continue
                }
                let numeric: Bool
                if case .some(.some(let n)) = SwanctlValue.number(kv.key[...]), n > 0, n < 32768 { numeric = true } else { numeric = false }
                guard Self.poolAttributes.contains(kv.key) || numeric else {
                    throw ConfigError(location: kv.location, message: "unknown attribute `\(kv.key)` in pool `\(s.name)`",
                                      hint: "write addrs, dns, nbns, dhcp, netmask, server, subnet, split_include, split_exclude or a numeric attribute type")
                }
                var values: [String] = []
                for item in SwanctlValue.list(kv) {
                    // Named attributes carry addresses or subnets (vici_attribute.c pool_li).
                    if !numeric && IPAddress(item.text) == nil && IPPrefix(item.text) == nil {
                        throw ConfigError(location: item.location, message: "invalid \(kv.key) `\(item.text)` in pool `\(s.name)`: not an address or subnet",
                                          hint: "write an IPv4/IPv6 address, or a subnet for split_include/split_exclude/subnet")
                    }
                    values.append(item.text)
                }
                pool.attributes[kv.key, default: []] += values
            }
            guard !pool.addrs.isEmpty else {
                throw ConfigError(location: s.location, message: "pool `\(s.name)` has no `addrs`",
                                  hint: "add addrs = 10.3.0.0/24 (a subnet) or addrs = 10.3.0.10-10.3.0.99 (a range)")
            }
            out.append(pool)
        }
        return out
    }

    /// One subnet or range (vici_attribute.c pool_kv: `addrs` is a single value).
    private func poolRange(_ kv: SwanctlKeyValue) throws(ConfigError) -> String {
        let text = String(kv.value.trimmingBlanks)
        if let (a, b) = SwanctlValue.range(text), a.family == b.family, a <= b { return text }
        if text.contains("/"), IPPrefix(text) != nil { return text }
        throw SwanctlValue.invalid(kv, "not one subnet or range",
                                   hint: "write a single subnet (10.3.0.0/24) or range (10.3.0.10-10.3.0.99); a pool takes one")
    }
}
