import TernCrypto
import TernDataPlane
import TernWire

/// One CHILD SA: an inbound and an outbound ESP SA plus the selectors they serve.
final class ChildSA {
    typealias State = ChildSAState

    let uniqueID: UInt32
    let policy: ChildPolicy
    var reqid: UInt32
    var state: State = .installed
    let inboundSPI: UInt32
    let outboundSPI: UInt32
    let algorithms: NegotiatedAlgorithms
    let mode: IPSecMode
    let localTS: [IKETrafficSelector]
    let remoteTS: [IKETrafficSelector]
    var inboundSA: SAConfig
    var outboundSA: SAConfig
    /// The responder of a rekey sends on the new SA only once the initiator deleted the old one.
    var outboundInstalled = false
    let installedAt: MonotonicInstant
    var rekeyAt: MonotonicInstant
    var expireAt: MonotonicInstant
    /// Old SAs removed after a grace period, so packets in flight still decrypt.
    var removeAt: MonotonicInstant?
    /// Volume limits with their jitter applied (0 = none): rekey at the first, delete at the second.
    var rekeyAtBytes: UInt64 = 0
    var rekeyAtPackets: UInt64 = 0
    /// The peer's rekey of this SA that crossed ours (RFC 7296 §2.8.1), decided when ours completes.
    var peerRekey: PeerRekey?

    init(uniqueID: UInt32, policy: ChildPolicy, reqid: UInt32, inboundSPI: UInt32, outboundSPI: UInt32,
         algorithms: NegotiatedAlgorithms, mode: IPSecMode, localTS: [IKETrafficSelector], remoteTS: [IKETrafficSelector],
         inboundSA: SAConfig, outboundSA: SAConfig, now: MonotonicInstant, rekeyAt: MonotonicInstant, expireAt: MonotonicInstant) {
        self.uniqueID = uniqueID; self.policy = policy; self.reqid = reqid
        self.inboundSPI = inboundSPI; self.outboundSPI = outboundSPI; self.algorithms = algorithms
        self.mode = mode; self.localTS = localTS; self.remoteTS = remoteTS
        self.inboundSA = inboundSA; self.outboundSA = outboundSA
        self.installedAt = now; self.rekeyAt = rekeyAt; self.expireAt = expireAt
    }

    /// The same CHILD SA as a new object, for a copied session.
    func copy() -> ChildSA {
        let c = ChildSA(uniqueID: uniqueID, policy: policy, reqid: reqid, inboundSPI: inboundSPI, outboundSPI: outboundSPI,
                        algorithms: algorithms, mode: mode, localTS: localTS, remoteTS: remoteTS, inboundSA: inboundSA,
                        outboundSA: outboundSA, now: installedAt, rekeyAt: rekeyAt, expireAt: expireAt)
        c.state = state; c.outboundInstalled = outboundInstalled; c.removeAt = removeAt
        c.rekeyAtBytes = rekeyAtBytes; c.rekeyAtPackets = rekeyAtPackets; c.peerRekey = peerRekey
        return c
    }

    var handle: ChildSAHandle { ChildSAHandle(reqid: reqid, inboundSPI: inboundSPI, outboundSPI: outboundSPI) }

    func info(now: MonotonicInstant) -> ChildSAInfo {
        ChildSAInfo(uniqueID: uniqueID, name: policy.name, state: state, reqid: reqid,
                    mode: mode == .transport ? "TRANSPORT" : "TUNNEL", protocolName: "ESP",
                    encapsulated: inboundSA.encapsulation != .none, inboundSPI: inboundSPI, outboundSPI: outboundSPI,
                    encryption: algorithms.encryption.strongSwanName, encryptionKeySize: algorithms.encryption.keySizeBits,
                    integrity: algorithms.integrity == .none ? nil : algorithms.integrity.strongSwanName,
                    keyExchange: algorithms.keyExchange?.strongSwanName, esn: algorithms.esn,
                    localTS: localTS.map(\.strongSwanText), remoteTS: remoteTS.map(\.strongSwanText),
                    installedAgo: now.seconds(since: installedAt),
                    // rekey_time/life_time = 0: no timer (never), so nothing to show.
                    rekeyIn: state == .installed && rekeyAt != .never ? max(0, rekeyAt.seconds(since: now)) : nil,
                    lifeIn: expireAt != .never ? max(0, expireAt.seconds(since: now)) : nil)
    }

    /// The SPD entries for this CHILD SA's selectors (both directions), bound by reqid.
    static func policies(localTS: [IKETrafficSelector], remoteTS: [IKETrafficSelector], mode: IPSecMode,
                         local: IPAddress, remote: IPAddress, reqid: UInt32, acquire: Bool = false) -> [PolicyConfig] {
        var out: [PolicyConfig] = []
        for l in localTS {
            for r in remoteTS where l.family == r.family {
                let proto: UInt8?
                if l.ipProtocol == 0 && r.ipProtocol == 0 { proto = nil }
                else if l.ipProtocol == 0 || r.ipProtocol == 0 || l.ipProtocol == r.ipProtocol { proto = max(l.ipProtocol, r.ipProtocol) }
                else { continue }
                for (lp, lports) in l.policyParts {
                    for (rp, rports) in r.policyParts {
                        // More specific selectors win (lower value), as the kernel orders them.
                        let priority = UInt32(10_000 - (lp.length + rp.length) * 10 - (lports != nil || rports != nil ? 2 : 0) - (proto != nil ? 1 : 0))
                        let outRule = IPSecRule(proto: .esp, mode: mode, tunnelSource: mode == .tunnel ? local : nil,
                                                tunnelDestination: mode == .tunnel ? remote : nil, level: .unique(reqid: reqid))
                        let inRule = IPSecRule(proto: .esp, mode: mode, tunnelSource: mode == .tunnel ? remote : nil,
                                               tunnelDestination: mode == .tunnel ? local : nil, level: .unique(reqid: reqid))
                        out.append(PolicyConfig(source: lp, destination: rp, sourcePorts: lports, destinationPorts: rports,
                                                upperProtocol: proto, direction: .outbound, priority: priority, action: .protect([outRule]),
                                                acquire: acquire))
                        out.append(PolicyConfig(source: rp, destination: lp, sourcePorts: rports, destinationPorts: lports,
                                                upperProtocol: proto, direction: .inbound, priority: priority, action: .protect([inRule])))
                    }
                }
            }
        }
        return out
    }

    /// Splits KEYMAT (RFC 7296 §2.17): initiator→responder encryption and integrity keys first,
    /// then responder→initiator. Returns (inbound SA, outbound SA) for the side `isInitiator`.
    static func securityAssociations(keymat: [UInt8], algorithms: NegotiatedAlgorithms, isInitiator: Bool,
                                     inboundSPI: UInt32, outboundSPI: UInt32, local: SocketAddress, remote: SocketAddress,
                                     encapsulate: Bool, mode: IPSecMode, reqid: UInt32, replayWindow: Int,
                                     policy: ChildPolicy) -> (inbound: SAConfig, outbound: SAConfig) {
        let ek = algorithms.encryption.keyMaterialLength, ik = algorithms.integrity.keyLength
        var offset = 0
        func take(_ n: Int) -> [UInt8] { defer { offset += n }; return Array(keymat[offset..<offset + n]) }
        let encI = take(ek), intI = take(ik), encR = take(ek), intR = take(ik)
        let (inEnc, inInt, outEnc, outInt) = isInitiator ? (encR, intR, encI, intI) : (encI, intI, encR, intR)
        let encIn: Encapsulation = encapsulate ? .udp(sourcePort: remote.port, destinationPort: local.port) : .none
        let encOut: Encapsulation = encapsulate ? .udp(sourcePort: local.port, destinationPort: remote.port) : .none
        let inbound = SAConfig(source: remote.address, destination: local.address, proto: .esp, spi: inboundSPI, mode: mode,
                               encapsulation: encIn, reqid: reqid, replayWindow: replayWindow,
                               extendedSequenceNumbers: algorithms.esn, encryption: algorithms.encryption,
                               encryptionKey: KeyMaterial(inEnc), integrity: algorithms.integrity, integrityKey: KeyMaterial(inInt),
                               hardLifetimeBytes: policy.lifeBytes, softLifetimeBytes: policy.rekeyBytes)
        let outbound = SAConfig(source: local.address, destination: remote.address, proto: .esp, spi: outboundSPI, mode: mode,
                                encapsulation: encOut, reqid: reqid, replayWindow: replayWindow,
                                extendedSequenceNumbers: algorithms.esn, encryption: algorithms.encryption,
                                encryptionKey: KeyMaterial(outEnc), integrity: algorithms.integrity, integrityKey: KeyMaterial(outInt),
                                hardLifetimeBytes: policy.lifeBytes, softLifetimeBytes: policy.rekeyBytes)
        return (inbound, outbound)
    }

    static func keyMaterialLength(_ a: NegotiatedAlgorithms) -> Int {
        2 * (a.encryption.keyMaterialLength + a.integrity.keyLength)
    }
}
