import FuzzSupport
import TernWire

/// Crashes with a message libFuzzer keeps alongside the input: a round-trip mismatch is a finding.
func check(_ condition: Bool, _ what: @autoclosure () -> String) {
    if !condition { fatalError("FuzzIKEMessage: \(what())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
/// libFuzzer entry: one input per call; must never crash, hang or leak.
/// Decodes the bytes as an IKEv2 datagram. Whatever decodes must re-encode to bytes that
/// decode to an equal message (reserved bits may differ from the input, nothing else), of
/// the same length, with the SK payload at the same offset; re-encoding is then stable.
/// The payload chain after the header is also decoded on its own, as the engine does with a
/// decrypted SK body, under the same invariant.
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let message = try? IKEMessage(decoding: bytes) {
        let encoded = message.encode()
        check(encoded.count == bytes.count, "re-encoded to \(encoded.count) bytes from \(bytes.count): \(message)")
        do {
            let again = try IKEMessage(decoding: encoded)
            check(again == message, "does not decode back equal: \(message) vs \(again)")
            check(again.encode() == encoded, "re-encoding is not stable: \(message)")
        } catch {
            check(false, "re-encoded message fails to decode (\(error)): \(message)")
        }
    }
    // As an inner chain: the first byte names the first payload, the rest is the chain.
    if let first = bytes.first, let payloads = try? IKEPayloadCodec.decode(first: first, bytes[1...]) {
        let encoded = IKEPayloadCodec.encode(payloads)
        check(encoded.first == (payloads.isEmpty ? 0 : first), "chain re-encodes with first type \(encoded.first)")
        do {
            let again = try IKEPayloadCodec.decode(first: encoded.first, encoded.bytes[...])
            check(again == payloads, "chain does not decode back equal: \(payloads) vs \(again)")
        } catch {
            check(false, "re-encoded chain fails to decode (\(error)): \(payloads)")
        }
    }
    return 0
}

runFuzzer(fuzzOne)
