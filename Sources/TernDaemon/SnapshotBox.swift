import Atomics
import Foundation
import TernDataPlane

/// Publishes data-plane snapshots to the workers. Workers compare `generation` once per batch
/// (one relaxed load) and take the lock only when a new snapshot was published.
final class SnapshotBox: @unchecked Sendable {
    private let lock = NSLock()
    private var current: DataPlaneSnapshot
    let generation = ManagedAtomic<UInt64>(0)

    init(_ initial: DataPlaneSnapshot) {
        current = initial
        generation.store(initial.generation, ordering: .releasing)
    }

    func load() -> DataPlaneSnapshot {
        lock.lock(); defer { lock.unlock() }
        return current
    }

    func publish(_ s: DataPlaneSnapshot) {
        lock.lock()
        current = s
        lock.unlock()
        generation.store(s.generation, ordering: .releasing)
    }
}
