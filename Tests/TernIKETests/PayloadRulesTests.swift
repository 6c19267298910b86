import Testing
@testable import TernIKE
import TernWire

/// The per-exchange payload table (PayloadRules.swift): what each exchange may carry, and the
/// reason given when a message breaks it.
@Suite struct PayloadRulesTests {
    static let sa = IKEPayload.securityAssociation([])
    static let ke = IKEPayload.keyExchange(group: 31, data: [UInt8](repeating: 1, count: 32))
    static let nonce = IKEPayload.nonce([UInt8](repeating: 2, count: 32))

    @Test func aWellFormedIKESAInitRequestPasses() {
        let p = [Self.sa, Self.ke, Self.nonce, .notify(IKENotify(type: .ikev2FragmentationSupported)), .vendorID([1])]
        #expect(PayloadRules.violation(p, exchange: .ikeSAInit, isRequest: true) == nil)
    }

    @Test func missingAndDuplicatePayloadsAreNamed() {
        #expect(PayloadRules.violation([Self.sa, Self.ke], exchange: .ikeSAInit, isRequest: true)
                == "IKE_SA_INIT request lacks a Nonce payload")
        #expect(PayloadRules.violation([Self.sa, Self.sa, Self.ke, Self.nonce], exchange: .ikeSAInit, isRequest: true)
                == "IKE_SA_INIT request carries 2 SA payloads, at most 1 allowed")
        #expect(PayloadRules.violation([Self.sa, Self.ke, Self.nonce, .trafficSelectorInitiator([])], exchange: .ikeSAInit, isRequest: true)
                == "TSi payload not allowed in IKE_SA_INIT request")
    }

    @Test func errorAnswersCarryANotifyAlone() {
        let cookie = [IKEPayload.notify(IKENotify(type: .cookie, data: [0, 1]))]
        #expect(PayloadRules.violation(cookie, exchange: .ikeSAInit, isRequest: false) == nil)
        #expect(PayloadRules.violation([.notify(IKENotify(type: .noProposalChosen))], exchange: .createChildSA, isRequest: false) == nil)
        #expect(PayloadRules.violation([.notify(IKENotify(type: .temporaryFailure))], exchange: .createChildSA, isRequest: true)
                == "CREATE_CHILD_SA request lacks a SA payload")
    }

    @Test func payloadsBelongInsideSK() {
        #expect(PayloadRules.violationOutsideSK([Self.nonce], exchange: .informational, isRequest: true)
                == "Nonce payload outside SK in INFORMATIONAL request")
        #expect(PayloadRules.violation([.delete(IKEDelete(protocolID: 1, spis: [])), .notify(IKENotify(type: .authenticationFailed))],
                                       exchange: .informational, isRequest: true) == nil)
        #expect(PayloadRules.violation([.authentication(method: 2, data: [1]), .authentication(method: 2, data: [1])],
                                       exchange: .ikeAuth, isRequest: true) == "IKE_AUTH request carries 2 AUTH payloads, at most 1 allowed")
    }
}
