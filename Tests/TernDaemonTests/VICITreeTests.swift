import Testing
import TernConfig
import TernIKE
import TernVICI
import TernWire
@testable import TernDaemon

/// A `load-conn` message as swanctl's load_conns.c builds it from swanctl.conf.
let loadConnBody: VICIMessage = [
    "version": "2",
    "local_addrs": ["192.0.2.1"],
    "remote_addrs": ["192.0.2.2"],
    "proposals": ["aes256gcm16-prfsha256-x25519", "aes128-sha256-modp2048"],
    "local": .section(["auth": "psk", "id": "a.example.com"]),
    "remote": .section(["auth": "psk", "id": "b.example.com"]),
    "children": .section([
        "net": .section([
            "local_ts": ["10.1.0.0/24", "10.3.0.0/24"],
            "remote_ts": ["10.2.0.0/24"],
            "esp_proposals": ["aes256gcm16"],
            "start_action": "trap",
        ]),
    ]),
]

@Suite struct VICITreeTests {
    @Test func messageBecomesTheSameTreeAsTheFile() throws {
        let tree = try SwanctlVICI.section(named: "to-b", from: loadConnBody, origin: "vici:load-conn:to-b")
        #expect(tree.name == "to-b")
        #expect(tree.value("proposals")?.value == "aes256gcm16-prfsha256-x25519,aes128-sha256-modp2048")
        #expect(tree.value("version")?.value == "2")
        #expect(tree.value("version")?.location.file == "vici:load-conn:to-b")
        #expect(tree.subsection("local")?.value("id")?.value == "a.example.com")
        let net = try #require(tree.subsection("children")?.subsection("net"))
        #expect(net.value("local_ts")?.value == "10.1.0.0/24,10.3.0.0/24")
        #expect(net.location.file == "vici:load-conn:to-b.children.net")
    }

    @Test func convertedTreeLoadsThroughTheFileConversion() throws {
        let tree = try SwanctlVICI.section(named: "to-b", from: loadConnBody, origin: "vici:load-conn:to-b")
        let (config, source, _) = try SwanctlLoader.connection(name: "to-b", section: tree)
        #expect(config.proposalSpec.count == 2 && config.proposals.count == 2)
        #expect(config.children.first?.localSelectors.count == 2)
        #expect(source.child("net").file == "vici:load-conn:to-b.children.net")
        let policy = try SwanctlAdmission.admit(config, source: source)
        #expect(policy.name == "to-b" && policy.children.first?.startAction == .trap)
        #expect(policy.remoteAddresses == [.address(try #require(IPAddress("192.0.2.2")))])
    }

    @Test func invalidValuesFailWithTheFilePathsErrorAndAVICILocation() throws {
        var body = loadConnBody
        body["proposals"] = ["nonsense-cipher"]
        let tree = try SwanctlVICI.section(named: "bad", from: body, origin: "vici:load-conn:bad")
        #expect(throws: ConfigError.self) {
            let (c, source, _) = try SwanctlLoader.connection(name: "bad", section: tree)
            _ = try SwanctlAdmission.admit(c, source: source)
        }
        do {
            let (c, source, _) = try SwanctlLoader.connection(name: "bad", section: tree)
            _ = try SwanctlAdmission.admit(c, source: source)
        } catch {
            #expect("\(error)".contains("proposals"))
            #expect("\(error)".contains("vici:load-conn:bad"))
        }
    }

    @Test func nonUTF8ValuesAreRefusedNotCrashed() {
        let body = VICIMessage(entries: [.init(key: "remote_addrs", element: .value([0xFF, 0xFE]))])
        #expect(throws: ConfigError.self) { try SwanctlVICI.section(named: "x", from: body, origin: "vici:load-conn:x") }
        let list = VICIMessage(entries: [.init(key: "remote_addrs", element: .list([[0xC3]]))])
        #expect(throws: ConfigError.self) { try SwanctlVICI.section(named: "x", from: list, origin: "vici:load-conn:x") }
    }

    @Test func storeMergesByNameWithVICIReplacingTheFile() throws {
        let tree = try SwanctlVICI.section(named: "to-b", from: loadConnBody, origin: "vici:load-conn:to-b")
        let (config, source, _) = try SwanctlLoader.connection(name: "to-b", section: tree)
        let policy = try SwanctlAdmission.admit(config, source: source)
        var filePolicy = policy
        filePolicy.rekeyTime = 1
        var other = policy
        other.name = "other"
        let store = VICIConfigStore()
        var file = EngineConfiguration()
        file.connections = [filePolicy, other]
        #expect(store.replacingFile(file).connections.map(\.name) == ["to-b", "other"])
        store.withLock { store.putConnection(.init(policy: policy, source: source)) }
        let merged = store.merged
        #expect(merged.connections.map(\.name) == ["other", "to-b"])
        #expect(merged.connections.last?.rekeyTime == policy.rekeyTime)
        #expect(store.withLock { store.removeConnection("to-b") }?.name == "to-b")
        #expect(store.merged.connections.first { $0.name == "to-b" }?.rekeyTime == 1)
    }
}
