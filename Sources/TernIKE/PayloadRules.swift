import TernWire

// Which payloads each exchange may carry, and how many of each (RFC 7296 §1.2–§1.4, §3),
// as a table per exchange and direction, after strongSwan's `payload_rule_t`
// (encoding/message.c). A message is checked once when it arrives, before any task looks at
// it: an exchange's handler can then take "the SA payload" without loops that quietly keep
// the last of two. Minimums are only those whose absence RFC 7296 answers with
// INVALID_SYNTAX whatever else the message says; missing payloads the tasks refuse in their
// own words (AUTHENTICATION_FAILED for an IKE_AUTH without AUTH, say) stay with the tasks.
//
// Payload types the table does not list for an exchange are refused; unknown types without
// the critical bit are skipped (§2.5), with it they were answered before this check.

struct PayloadRule {
    let type: IKEPayloadType
    let min: Int
    let max: Int
    /// Inside SK (every exchange after IKE_SA_INIT) or in the clear (IKE_SA_INIT).
    let encrypted: Bool
}

enum PayloadRules {
    private static let many = Int.max

    private static func clear(_ t: IKEPayloadType, _ min: Int, _ max: Int) -> PayloadRule {
        PayloadRule(type: t, min: min, max: max, encrypted: false)
    }

    private static func sk(_ t: IKEPayloadType, _ min: Int, _ max: Int) -> PayloadRule {
        PayloadRule(type: t, min: min, max: max, encrypted: true)
    }

    static let ikeSAInitRequest: [PayloadRule] = [
        clear(.notify, 0, many), clear(.securityAssociation, 1, 1), clear(.keyExchange, 1, 1), clear(.nonce, 1, 1),
        clear(.vendorID, 0, many),
    ]
    /// Error answers (COOKIE, INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN) carry a notify alone.
    static let ikeSAInitResponse: [PayloadRule] = [
        clear(.notify, 0, many), clear(.securityAssociation, 0, 1), clear(.keyExchange, 0, 1), clear(.nonce, 0, 1),
        clear(.certificateRequest, 0, many), clear(.vendorID, 0, many),
    ]
    static let ikeAuthRequest: [PayloadRule] = [
        sk(.notify, 0, many), sk(.eap, 0, 1), sk(.authentication, 0, 1), sk(.identificationInitiator, 0, 1),
        sk(.certificate, 0, many), sk(.certificateRequest, 0, many), sk(.identificationResponder, 0, 1),
        sk(.securityAssociation, 0, 1), sk(.trafficSelectorInitiator, 0, 1), sk(.trafficSelectorResponder, 0, 1),
        sk(.configuration, 0, 1), sk(.vendorID, 0, many),
    ]
    static let ikeAuthResponse: [PayloadRule] = [
        sk(.notify, 0, many), sk(.eap, 0, 1), sk(.authentication, 0, 1), sk(.certificate, 0, many),
        sk(.identificationResponder, 0, 1), sk(.securityAssociation, 0, 1), sk(.trafficSelectorInitiator, 0, 1),
        sk(.trafficSelectorResponder, 0, 1), sk(.configuration, 0, 1), sk(.vendorID, 0, many),
    ]
    static let createChildSARequest: [PayloadRule] = [
        sk(.notify, 0, many), sk(.securityAssociation, 1, 1), sk(.nonce, 1, 1), sk(.keyExchange, 0, 1),
        sk(.trafficSelectorInitiator, 0, 1), sk(.trafficSelectorResponder, 0, 1), sk(.configuration, 0, 1),
        sk(.vendorID, 0, many),
    ]
    /// A refusal carries a notify alone.
    static let createChildSAResponse: [PayloadRule] = [
        sk(.notify, 0, many), sk(.securityAssociation, 0, 1), sk(.nonce, 0, 1), sk(.keyExchange, 0, 1),
        sk(.trafficSelectorInitiator, 0, 1), sk(.trafficSelectorResponder, 0, 1), sk(.configuration, 0, 1),
        sk(.vendorID, 0, many),
    ]
    static let informational: [PayloadRule] = [
        sk(.notify, 0, many), sk(.configuration, 0, 1), sk(.delete, 0, many), sk(.vendorID, 0, many),
    ]

    static func rules(_ exchange: IKEExchangeType, isRequest: Bool) -> [PayloadRule] {
        switch exchange {
        case .ikeSAInit: isRequest ? ikeSAInitRequest : ikeSAInitResponse
        case .ikeAuth: isRequest ? ikeAuthRequest : ikeAuthResponse
        case .createChildSA: isRequest ? createChildSARequest : createChildSAResponse
        case .informational: informational
        }
    }

    /// Why `payloads` (the inner ones, for an encrypted exchange) break the table, or nil.
    static func violation(_ payloads: [IKEPayload], exchange: IKEExchangeType, isRequest: Bool) -> String? {
        let table = rules(exchange, isRequest: isRequest)
        // Counts by payload type number (33…53).
        var counts = [Int](repeating: 0, count: 24)
        for p in payloads {
            if case .unknown = p { continue }
            let t = p.payloadType
            guard let rule = table.first(where: { $0.type.rawValue == t }) else {
                return "\(name(t)) payload not allowed in \(describe(exchange, isRequest))"
            }
            let i = Int(t) - 33
            guard i >= 0, i < counts.count else { return "\(name(t)) payload not allowed in \(describe(exchange, isRequest))" }
            counts[i] += 1
            if counts[i] > rule.max {
                return "\(describe(exchange, isRequest)) carries \(counts[i]) \(name(t)) payloads, at most \(rule.max) allowed"
            }
        }
        for rule in table where rule.min > 0 {
            let i = Int(rule.type.rawValue) - 33
            if counts[i] < rule.min { return "\(describe(exchange, isRequest)) lacks a \(name(rule.type.rawValue)) payload" }
        }
        return nil
    }

    /// Why the payloads in the clear before SK break the table (each belongs inside SK), or nil.
    static func violationOutsideSK(_ outer: [IKEPayload], exchange: IKEExchangeType, isRequest: Bool) -> String? {
        let encrypted = rules(exchange, isRequest: isRequest).allSatisfy(\.encrypted)
        for p in outer {
            if case .unknown = p { continue }
            if encrypted || p.payloadType == IKEPayloadType.encrypted.rawValue || p.payloadType == IKEPayloadType.encryptedFragment.rawValue {
                return "\(name(p.payloadType)) payload outside SK in \(describe(exchange, isRequest))"
            }
        }
        return nil
    }

    static func describe(_ exchange: IKEExchangeType, _ isRequest: Bool) -> String {
        let e: String
        switch exchange {
        case .ikeSAInit: e = "IKE_SA_INIT"
        case .ikeAuth: e = "IKE_AUTH"
        case .createChildSA: e = "CREATE_CHILD_SA"
        case .informational: e = "INFORMATIONAL"
        }
        return "\(e) \(isRequest ? "request" : "response")"
    }

    static func name(_ type: UInt8) -> String {
        switch IKEPayloadType(rawValue: type) {
        case .securityAssociation?: "SA"
        case .keyExchange?: "KE"
        case .identificationInitiator?: "IDi"
        case .identificationResponder?: "IDr"
        case .certificate?: "CERT"
        case .certificateRequest?: "CERTREQ"
        case .authentication?: "AUTH"
        case .nonce?: "Nonce"
        case .notify?: "Notify"
        case .delete?: "Delete"
        case .vendorID?: "VendorID"
        case .trafficSelectorInitiator?: "TSi"
        case .trafficSelectorResponder?: "TSr"
        case .encrypted?: "SK"
        case .configuration?: "CP"
        case .eap?: "EAP"
        case .encryptedFragment?: "SKF"
        case .none?, nil: "type \(type)"
        }
    }
}
