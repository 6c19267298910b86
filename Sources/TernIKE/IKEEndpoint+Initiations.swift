import TernWire

// The outcome of one operator initiation (VICI `initiate`), tied to the IKE SA it created or
// reused, so twenty concurrent initiations of one connection each learn their own result:
// success when its CHILD SA (or, without a child, its IKE SA) is up, failure when that SA fails
// or goes away first, or when it could not even start (no address, no route). Reported once,
// as `IKEEvent.initiationFinished(tag:failure:)`.

/// What one tagged initiation waits for.
struct InitiationWatch {
    var connection: String
    /// nil: any CHILD SA of the connection (or the IKE SA, when the connection has none).
    var child: String?
    /// Our SPI of the IKE SA that carries it, once there is one.
    var spi: UInt64?
}

extension IKEEndpoint {
    /// A tagged initiation could not start, or its IKE SA failed: report it once.
    func finishInitiation(_ tag: UInt64?, failure: String?, _ out: inout [IKEAction]) {
        guard let tag, watches.removeValue(forKey: tag) != nil else { return }
        out.append(.event(.initiationFinished(tag: tag, failure: failure)))
    }

    /// After an input: settles the watches whose IKE SA this input established, failed or removed.
    func settleInitiations(_ out: inout [IKEAction]) {
        guard !watches.isEmpty else { return }
        var lastFailure: [String: String] = [:]
        var finished: [(UInt64, String?)] = []
        for action in out {
            guard case .event(let e) = action else { continue }
            switch e {
            case .ikeFailed(let c, let r): lastFailure[c] = r
            case .childFailed(let c, let child, let r):
                lastFailure[c] = r
                for (tag, w) in watches where w.connection == c && (w.child == nil || w.child == child) {
                    if let spi = w.spi, let s = sessions[spi], s.touched || s.state == .dead { finished.append((tag, "CHILD_SA \(child): \(r)")) }
                }
            case .childEstablished(let info, let child):
                let spi = info.isInitiator ? info.initiatorSPI : info.responderSPI
                for (tag, w) in watches where w.spi == spi && (w.child == nil || w.child == child.name) { finished.append((tag, nil)) }
            case .ikeEstablished(let info):
                let spi = info.isInitiator ? info.initiatorSPI : info.responderSPI
                for (tag, w) in watches where w.spi == spi && w.child == nil && info.children.isEmpty
                    && (configuration.connections.first { $0.name == w.connection }?.children.isEmpty ?? true) {
                    finished.append((tag, nil))
                }
            default: break
            }
        }
        for (tag, failure) in finished { finishInitiation(tag, failure: failure, &out) }
        // An IKE SA that went away before its watch finished failed it.
        for (tag, w) in watches {
            guard let spi = w.spi else { continue }
            if sessions[spi].map({ $0.state == .dead }) ?? true {
                finishInitiation(tag, failure: lastFailure[w.connection] ?? "the IKE_SA was deleted before the CHILD_SA was established", &out)
            }
        }
    }
}
