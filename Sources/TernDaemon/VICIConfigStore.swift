import Foundation
import TernConfig
import TernIKE
import TernPKI
import TernVICI
import X509

/// Configuration loaded over VICI, kept beside the file configuration as charon keeps it:
/// connections by name (a VICI connection replaces a file one of the same name), shared keys
/// by id, pools by name. `merged` is what the engine runs.
final class VICIConfigStore: @unchecked Sendable {
    struct LoadedConnection {
        var policy: ConnectionPolicy
        /// Where `load-conn` put each part (`vici:load-conn:<name>…`).
        var source: SwanctlSource
        var name: String { policy.name }
    }

    struct LoadedShared {
        var id: String
        var type: String
        var owners: [String]
        var key: SharedKey
    }

    private let lock = NSLock()
    private var file = EngineConfiguration()
    private var connections: [LoadedConnection] = []
    private var shared: [LoadedShared] = []
    private var pools: [String: AddressPoolConfig] = [:]
    private var poolOrder: [String] = []
    private var nextSharedID = 0
    /// Certificates, keys and CRLs loaded over VICI (load-cert, load-key, load-authority).
    private var viciCredentials = CredentialSet()

    /// The mutex every change takes, so merged configurations reach the engine in order.
    func withLock<T>(_ body: () throws -> T) rethrows -> T { try lock.withLock(body) }

    /// Remembers the file configuration and returns it merged with what VICI loaded.
    func replacingFile(_ configuration: EngineConfiguration) -> EngineConfiguration {
        lock.withLock { file = configuration; return mergedWithoutLocking() }
    }

    var merged: EngineConfiguration { lock.withLock { mergedWithoutLocking() } }

    func mergedWithoutLocking() -> EngineConfiguration {
        var e = file
        let names = Set(connections.map(\.name))
        e.connections = file.connections.filter { !names.contains($0.name) } + connections.map(\.policy)
        // VICI keys first: they were loaded last and charon's VICI credential set wins.
        e.sharedKeys = shared.map(\.key) + file.sharedKeys
        // A VICI pool replaces the file's of the same name (swanctl loads the file's over VICI too).
        e.pools = file.pools.filter { pools[$0.name] == nil } + poolOrder.compactMap { pools[$0] }
        e.credentials = file.credentials.merged(with: viciCredentials)
        e.credentials.insertCertificates(of: e.connections)
        return e
    }

    // MARK: Credentials

    /// Replaces what VICI loaded (callers hold the lock through `withLock`).
    func setVICICredentials(_ credentials: CredentialSet) { viciCredentials = credentials }

    /// What VICI loaded, for checks made while the file configuration loads.
    var credentialsFromVICI: CredentialSet { lock.withLock { viciCredentials } }

    // MARK: Connections (callers hold the lock through `withLock`)

    func putConnection(_ c: LoadedConnection) {
        if let i = connections.firstIndex(where: { $0.name == c.name }) { connections[i] = c } else { connections.append(c) }
    }

    /// Removes and returns the connection called `name`.
    func removeConnection(_ name: String) -> LoadedConnection? {
        guard let i = connections.firstIndex(where: { $0.name == name }) else { return nil }
        return connections.remove(at: i)
    }

    var connectionNames: [String] { connections.map(\.name) }

    // MARK: Shared keys

    /// Stores a key under `id` (replacing one with that id), or under a fresh id.
    func putShared(id: String?, type: String, owners: [String], key: SharedKey) -> String {
        let name: String
        if let id { name = id } else { nextSharedID += 1; name = "%unique-\(nextSharedID)" }
        let entry = LoadedShared(id: name, type: type, owners: owners, key: key)
        if let i = shared.firstIndex(where: { $0.id == name }) { shared[i] = entry } else { shared.append(entry) }
        return name
    }

    func removeShared(_ id: String) -> Bool {
        let before = shared.count
        shared.removeAll { $0.id == id }
        return shared.count != before
    }

    var sharedIDs: [String] { lock.withLock { shared.map(\.id) } }

    func clearShared() { shared = [] }

    // MARK: Pools (callers hold the lock through `withLock`)

    func putPool(_ pool: AddressPoolConfig) {
        if pools[pool.name] == nil { poolOrder.append(pool.name) }
        pools[pool.name] = pool
    }

    func removePool(_ name: String) -> Bool {
        guard pools.removeValue(forKey: name) != nil else { return false }
        poolOrder.removeAll { $0 == name }
        return true
    }

    /// The pools the engine would run with `change` applied, without storing it.
    func poolsUnlocked(putting put: [AddressPoolConfig] = [], removing name: String? = nil) -> [AddressPoolConfig] {
        var e = mergedWithoutLocking().pools.filter { $0.name != name }
        for p in put {
            if let i = e.firstIndex(where: { $0.name == p.name }) { e[i] = p } else { e.append(p) }
        }
        if let name, let filePool = file.pools.first(where: { $0.name == name }), pools[name] != nil { e.append(filePool) }
        return e
    }

    func hasPool(_ name: String) -> Bool { pools[name] != nil }
}

/// swanctl sends `certs`, `cacerts` and `pubkeys` of a connection as the files' contents
/// (load_conns.c add_file_list_key), PEM or DER. The tree conversion takes text, so each blob
/// becomes a `%vici-blob-N` reference that `source` resolves from the table.
struct VICICertificateBlobs {
    static let blobKeys: Set<String> = ["certs", "cacerts", "pubkeys"]
    static let prefix = "%vici-blob-"
    private(set) var blobs: [[UInt8]] = []

    /// The connection body with its authentication rounds' blobs replaced by references.
    mutating func extract(_ connection: VICIMessage) -> VICIMessage {
        var out = connection
        for i in out.entries.indices {
            guard case .section(var round) = out.entries[i].element,
                  out.entries[i].key.hasPrefix("local") || out.entries[i].key.hasPrefix("remote") else { continue }
            for j in round.entries.indices where Self.blobKeys.contains(round.entries[j].key) {
                let items: [[UInt8]] = switch round.entries[j].element {
                case .list(let items): items
                case .value(let item): [item]
                case .section: []
                }
                var references: [[UInt8]] = []
                for item in items {
                    references.append(Array((Self.prefix + String(blobs.count)).utf8))
                    blobs.append(item)
                }
                round.entries[j].element = .list(references)
            }
            out.entries[i].element = .section(round)
        }
        return out
    }

    /// Resolves references to blobs; anything else (a `cert<suffix> { file = … }` path) is read
    /// from disk as charon reads it, an absolute path only.
    func source(hasPrivateKey: ((Certificate) -> Bool)?) -> CertificateSource {
        let blobs = self.blobs
        return CertificateSource(certificates: { reference, _, at throws(ConfigError) in
            if reference.hasPrefix(Self.prefix), let index = Int(reference.dropFirst(Self.prefix.count)), blobs.indices.contains(index) {
                do {
                    let found = try CertificateFile.load(blobs[index])
                    guard !found.isEmpty else { throw PKIError(.notACertificate, "no certificate found") }
                    return found
                } catch {
                    throw ConfigError(location: at, message: "certificate \(index + 1) sent (\(blobs[index].count) bytes): \(error)")
                }
            }
            guard reference.hasPrefix("/") else {
                throw ConfigError(location: at, message: "certificate file '\(reference)' is not an absolute path",
                                  hint: "send certificates as data (swanctl does), or name them by absolute path")
            }
            let (bytes, _, _) = try ConfigFileReader.read(reference, kind: "certificate")
            do { return try CertificateFile.load(bytes) } catch {
                throw ConfigError(location: at, message: "\(reference) is not a usable X.509 certificate: \(error)")
            }
        }, hasPrivateKey: hasPrivateKey)
    }
}
