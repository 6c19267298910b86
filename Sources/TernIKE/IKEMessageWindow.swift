import TernWire

// The owner of an IKE SA's message IDs (RFC 7296 §2.1–§2.3), with a window of one in each
// direction, in the manner of strongSwan's task manager (one initiating and one responding
// slot): our next request ID, the request in flight with its retransmission schedule, the
// exchanges queued behind it; the ID the peer's next request must carry and our response to
// its last one, resent byte for byte when the request comes again.
//
// It decides what an arriving message ID means and when our request is due again; the
// session's tasks build and process the messages.

/// The exchanges we can start, queued until the window is free.
enum PendingRequest {
    case createChild(String)
    case rekeyChild(UInt32)          // inbound SPI of the CHILD SA to rekey
    case rekeyIKE
    case deleteChild(UInt32, reason: String)
    case deleteIKE(reason: String)
    case dpd
}

/// Our request in flight.
struct OutstandingRequest {
    var messageID: UInt32
    var exchange: IKESession.ExchangeContext
    var datagrams: [[UInt8]]
    var sends: Int
    var retransmitAt: MonotonicInstant
    var deadline: MonotonicInstant?  // dpd_timeout bound for liveness checks
}

struct IKEMessageWindow {
    /// Boxed: an IKE SA at rest has no request outstanding, and ~225 bytes inline in every
    /// session add up with thousands of SAs.
    final class OutstandingBox {
        let value: OutstandingRequest
        init(_ value: OutstandingRequest) { self.value = value }
    }

    // Our requests.
    private(set) var nextRequestID: UInt32 = 0
    private var outstandingBox: OutstandingBox?
    var outstanding: OutstandingRequest? { outstandingBox?.value }
    var queue: [PendingRequest] = []

    // The peer's requests.
    private(set) var expectedRequestID: UInt32 = 0
    private(set) var cachedResponse: (id: UInt32, datagrams: [[UInt8]])?

    var dpdQueued: Bool { queue.contains { if case .dpd = $0 { true } else { false } } }

    // MARK: Our side

    /// The ID for a request (or a one-shot notice that expects no answer).
    mutating func takeRequestID() -> UInt32 {
        defer { nextRequestID &+= 1 }
        return nextRequestID
    }

    /// A restarted IKE_SA_INIT starts again at message ID 0 (RFC 7296 §2.6, §1.3.1).
    mutating func restartInit() { nextRequestID = 0 }

    /// `datagrams` (request `id`) went out: remember them for retransmission.
    mutating func sent(_ id: UInt32, exchange: IKESession.ExchangeContext, datagrams: [[UInt8]], now: MonotonicInstant,
                       schedule: RetransmissionPolicy, deadline: MonotonicInstant?) {
        outstandingBox = OutstandingBox(OutstandingRequest(messageID: id, exchange: exchange, datagrams: datagrams, sends: 1,
                                                           retransmitAt: now + schedule.delay(afterSend: 0), deadline: deadline))
    }

    /// The response to our request arrived (or the request is abandoned): the slot is free.
    @discardableResult
    mutating func finishRequest() -> OutstandingRequest? {
        defer { outstandingBox = nil }
        return outstandingBox?.value
    }

    /// The IKE SA goes away: nothing more goes out.
    mutating func close() {
        outstandingBox = nil
        queue = []
    }

    enum Retransmission {
        case none
        case resend([[UInt8]], number: Int, messageID: UInt32)
        case peerDead(String)
    }

    /// What our outstanding request needs at `now`: nothing, a resend, or giving up.
    mutating func retransmission(now: MonotonicInstant, schedule r: RetransmissionPolicy) -> Retransmission {
        guard var o = outstanding else { return .none }
        if let dl = o.deadline, now >= dl { return .peerDead("no response within dpd_delay + dpd_timeout") }
        guard now >= o.retransmitAt else { return .none }
        if o.sends > r.tries { return .peerDead("giving up after \(r.tries) retransmits") }
        let resend = Retransmission.resend(o.datagrams, number: o.sends, messageID: o.messageID)
        o.retransmitAt = now + r.delay(afterSend: o.sends)
        o.sends += 1
        outstandingBox = OutstandingBox(o)
        return resend
    }

    // MARK: The peer's side

    enum Arrival {
        /// The response to our outstanding request, or the peer's next request: handle it.
        case handle
        /// A retransmitted request: send our cached response again.
        case resend([[UInt8]])
        /// Late, duplicate or forged (§2.3): ignore.
        case ignore
    }

    /// What a message with this ID means. A retransmitted request gets the byte-identical
    /// response again (§2.1), once per request: for a fragmented request only on its first
    /// fragment (RFC 7383 §2.6.1).
    func classify(messageID: UInt32, isResponse: Bool, fragmentNumber: UInt16?) -> Arrival {
        if isResponse {
            guard let o = outstanding, o.messageID == messageID else { return .ignore }
            return .handle
        }
        if let c = cachedResponse, c.id == messageID {
            if let n = fragmentNumber, n != 1 { return .ignore }
            return .resend(c.datagrams)
        }
        return messageID == expectedRequestID ? .handle : .ignore
    }

    /// The peer's request `expectedRequestID` was accepted: the next must carry the next ID.
    mutating func acceptRequest() { expectedRequestID &+= 1 }

    /// Our response to request `id`, kept for its retransmissions.
    mutating func cacheResponse(id: UInt32, datagrams: [[UInt8]]) { cachedResponse = (id, datagrams) }
}
