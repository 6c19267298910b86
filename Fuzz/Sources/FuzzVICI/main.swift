import FuzzSupport
import TernVICI

/// Crashes with a message libFuzzer keeps alongside the input: a round-trip mismatch is a finding.
func check(_ condition: Bool, _ what: @autoclosure () -> String) {
    if !condition { fatalError("FuzzVICI: \(what())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
/// libFuzzer entry: one input per call; must never crash, hang or leak.
/// Decodes the bytes as a packet and as a message. Whatever decodes must re-encode to the
/// very same bytes (the encoding is canonical: order kept, lengths exact) and decode back to
/// an equal value, and must pass `validate()` (so the server would send it unchanged).
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let packet = try? VICIPacket.decode(bytes) {
        let encoded = packet.encoded()
        check(encoded == bytes, "packet re-encodes differently: \(packet)")
        check((try? VICIPacket.decode(encoded)) == packet, "packet does not decode back: \(packet)")
        switch packet {
        case .commandRequest(_, let m), .commandResponse(let m), .event(_, let m):
            check((try? m.validate()) != nil, "decoded packet message fails validate: \(m)")
        default: break
        }
    }
    if let message = try? VICIMessage.decode(bytes) {
        let encoded = message.encoded()
        check(encoded == bytes, "message re-encodes differently: \(message)")
        check((try? VICIMessage.decode(encoded)) == message, "message does not decode back: \(message)")
        check((try? message.validate()) != nil, "decoded message fails validate: \(message)")
    }
    return 0
}

runFuzzer(fuzzOne)
