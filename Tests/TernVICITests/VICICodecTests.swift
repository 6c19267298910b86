import Testing
@testable import TernVICI

/// The example from strongSwan's vici README ("Encoding example"), written out by hand.
let readmeExample: [UInt8] = [
    3, 4] + Array("key1".utf8) + [0, 6] + Array("value1".utf8) + [
    1, 8] + Array("section1".utf8) + [
    1, 11] + Array("sub-section".utf8) + [
    3, 4] + Array("key2".utf8) + [0, 6] + Array("value2".utf8) + [
    2,
    4, 5] + Array("list1".utf8) + [
    5, 0, 5] + Array("item1".utf8) + [
    5, 0, 5] + Array("item2".utf8) + [
    6,
    2]

let readmeMessage: VICIMessage = [
    "key1": "value1",
    "section1": .section([
        "sub-section": .section(["key2": "value2"]),
        "list1": ["item1", "item2"],
    ]),
]

func decodeError(_ bytes: [UInt8]) -> VICIError.Code? {
    do {
        _ = try VICIMessage.decode(bytes)
        return nil
    } catch {
        return error.code
    }
}

func packetError(_ bytes: [UInt8]) -> VICIError.Code? {
    do {
        _ = try VICIPacket.decode(bytes)
        return nil
    } catch {
        return error.code
    }
}

/// A small deterministic generator, so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct VICIEncodingTests {
    @Test func readmeExampleEncodesByteForByte() throws {
        #expect(readmeMessage.encoded() == readmeExample)
        #expect(try VICIMessage.decode(readmeExample) == readmeMessage)
    }

    @Test func readmeExampleAccessors() throws {
        let m = try VICIMessage.decode(readmeExample)
        #expect(m.string("key1") == "value1")
        #expect(m.section("section1")?.section("sub-section")?.string("key2") == "value2")
        #expect(m.section("section1")?.list("list1") == ["item1", "item2"])
        #expect(m.string("section1") == nil)
        #expect(m.section("key1") == nil)
        #expect(m.list("missing") == nil)
        #expect(m.keys == ["key1", "section1"])
    }

    @Test func emptyValueAndEmptyList() throws {
        let m: VICIMessage = ["k": "", "l": []]
        let bytes: [UInt8] = [3, 1, UInt8(ascii: "k"), 0, 0, 4, 1, UInt8(ascii: "l"), 6]
        #expect(m.encoded() == bytes)
        #expect(try VICIMessage.decode(bytes) == m)
        #expect(m.string("k") == "")
        #expect(m.list("l") == [])
    }

    @Test func emptySectionAndEmptyName() throws {
        var m = VICIMessage()
        m[""] = .section(VICIMessage())
        let bytes: [UInt8] = [1, 0, 2]
        #expect(m.encoded() == bytes)
        #expect(try VICIMessage.decode(bytes) == m)
        #expect(VICIMessage().encoded() == [])
        #expect(try VICIMessage.decode([UInt8]()) == VICIMessage())
    }

    @Test func binaryValueUsesBigEndianLength() throws {
        let blob = (0..<300).map { UInt8(truncatingIfNeeded: $0 * 7) }   // contains 0x00 and 0xff
        var m = VICIMessage()
        m["b"] = .value(blob)
        m["l"] = .list([[0, 0xFF], blob])
        let bytes = m.encoded()
        #expect(Array(bytes[0..<5]) == [3, 1, UInt8(ascii: "b"), 0x01, 0x2C])
        #expect(try VICIMessage.decode(bytes) == m)
        #expect(m.string("b") == nil)   // not UTF-8
        #expect(m.bytes("b") == blob)
    }

    @Test func largestValueRoundTrips() throws {
        var m = VICIMessage()
        m["big"] = .value([UInt8](repeating: 0xAB, count: 0xFFFF))
        let bytes = m.encoded()
        #expect(Array(bytes[0..<7]) == [3, 3, 98, 105, 103, 0xFF, 0xFF])
        #expect(try VICIMessage.decode(bytes) == m)
    }

    @Test func packetsEncodeByteForByte() throws {
        let cases: [(VICIPacket, [UInt8])] = [
            (.commandRequest(name: "version", message: VICIMessage()), [0, 7] + Array("version".utf8)),
            (.commandResponse(["a": "1"]), [1, 3, 1, 97, 0, 1, 49]),
            (.commandUnknown, [2]),
            (.eventRegister(name: "log"), [3, 3, 108, 111, 103]),
            (.eventUnregister(name: "log"), [4, 3, 108, 111, 103]),
            (.eventConfirm, [5]),
            (.eventUnknown, [6]),
            (.event(name: "ike-updown", message: ["up": "yes"]),
             [7, 10] + Array("ike-updown".utf8) + [3, 2, 117, 112, 0, 3, 121, 101, 115]),
        ]
        for (packet, bytes) in cases {
            #expect(packet.encoded() == bytes, "\(packet.typeName)")
            #expect(try VICIPacket.decode(bytes) == packet, "\(packet.typeName)")
        }
        #expect(VICIPacket.eventConfirm.framed() == [0, 0, 0, 1, 5])
        #expect(VICIPacket.commandRequest(name: "stats", message: VICIMessage()).framed()
            == [0, 0, 0, 7, 0, 5] + Array("stats".utf8))
    }

    @Test func orderIsPreservedAndSubscriptReplacesInPlace() throws {
        var m = VICIMessage()
        m.set("z", "1")
        m.set("a", 2)
        m.set("m", list: ["x"])
        m.set("z", "3")
        #expect(m.keys == ["z", "a", "m"])
        #expect(m.string("z") == "3")
        #expect(m.string("a") == "2")
        m["a"] = nil
        #expect(m.keys == ["z", "m"])
        let round = try VICIMessage.decode(m.encoded())
        #expect(round == m)
        #expect(round.keys == ["z", "m"])
    }

    @Test func nestedRoundTrip() throws {
        var leaf: VICIMessage = ["mode": "tunnel", "local_ts": ["10.0.0.0/24", "10.1.0.0/24"]]
        var tree = VICIMessage()
        for depth in 0..<10 {
            var s = VICIMessage()
            s.set("depth", depth)
            s.set("child", section: leaf)
            s["empty"] = .section(VICIMessage())
            leaf = s
        }
        tree.set("conn", section: leaf)
        #expect(try VICIMessage.decode(tree.encoded()) == tree)
    }

    @Test func validateCatchesWhatCannotBeEncoded() {
        func code(_ m: VICIMessage) -> VICIError.Code? {
            do { try m.validate(); return nil } catch { return error.code }
        }
        #expect(code(readmeMessage) == nil)
        #expect(code(VICIMessage(entries: [.init(key: "a", element: ""), .init(key: "a", element: "")])) == .duplicateKey)
        #expect(code(["caf\u{e9}": "x"]) == .invalidName)
        #expect(code(["tab\t": "x"]) == .invalidName)
        #expect(code([String(repeating: "n", count: 256): "x"]) == .notEncodable)
        #expect(code(["v": .value([UInt8](repeating: 0, count: 0x10000))]) == .notEncodable)
        #expect(code(["l": .list([[UInt8](repeating: 0, count: 0x10000)])]) == .notEncodable)
        var deep = VICIMessage()
        for _ in 0..<VICIMessage.maxDepth { deep = ["s": .section(deep)] }
        #expect(code(deep) == nil)
        #expect(code(["s": .section(deep)]) == .nestingTooDeep)
        var big = VICIMessage()
        for i in 0..<9 { big["v\(i)"] = .value([UInt8](repeating: 1, count: 0xFFFF)) }
        #expect(code(big) == .oversized)
        do { try big.validate(maxSize: 1 << 20) } catch { Issue.record("\(error)") }
    }
}

@Suite struct VICIDecoderRejectionTests {
    @Test func everyTruncationOfTheReadmeExampleIsRejectedOrAPrefixMessage() throws {
        // Cutting at a root-level element boundary leaves a shorter valid message; every
        // other cut must fail, and nothing may trap.
        let boundaries: Set<Int> = [0, 14, readmeExample.count]
        for cut in 0...readmeExample.count {
            let prefix = Array(readmeExample[..<cut])
            do {
                let m = try VICIMessage.decode(prefix)
                #expect(boundaries.contains(cut), "prefix of \(cut) bytes decoded")
                #expect(m.encoded() == prefix)
            } catch {
                #expect(!boundaries.contains(cut), "prefix of \(cut) bytes: \(error)")
            }
        }
    }

    @Test func everyTruncationOfAPacketIsRejected() {
        let packets: [VICIPacket] = [
            .commandRequest(name: "load-conn", message: readmeMessage),
            .event(name: "list-sa", message: readmeMessage),
            .eventRegister(name: "log"),
        ]
        for packet in packets {
            let bytes = packet.encoded()
            for cut in 0..<bytes.count {
                let prefix = Array(bytes[..<cut])
                if let p = try? VICIPacket.decode(prefix) {
                    // Only a message cut at a root boundary can still decode.
                    #expect(p.encoded() == prefix)
                    #expect(cut >= 2 + 7)
                }
            }
        }
        #expect(packetError([]) == .truncated)
        #expect(packetError([3]) == .truncated)
        #expect(packetError([3, 3, 108]) == .truncated)
        #expect(packetError([0]) == .truncated)
    }

    @Test func badElementTypes() {
        #expect(decodeError([0]) == .badElementType)
        #expect(decodeError([7]) == .badElementType)
        #expect(decodeError([255]) == .badElementType)
        #expect(decodeError([3, 1, 97, 0, 0, 9]) == .badElementType)
        #expect(decodeError([4, 1, 108, 0]) == .badElementType)
    }

    @Test func unbalancedSections() {
        #expect(decodeError([2]) == .unbalancedSectionEnd)
        #expect(decodeError([1, 1, 115, 2, 2]) == .unbalancedSectionEnd)
        #expect(decodeError([1, 1, 115]) == .unterminatedSection)
        #expect(decodeError([1, 1, 115, 1, 1, 116, 2]) == .unterminatedSection)
    }

    @Test func listRules() {
        #expect(decodeError([5, 0, 0]) == .listItemOutsideList)
        #expect(decodeError([6]) == .listItemOutsideList)
        #expect(decodeError([1, 1, 115, 5, 0, 0, 2]) == .listItemOutsideList)
        #expect(decodeError([4, 1, 108, 3, 1, 107, 0, 0, 6]) == .elementInList)
        #expect(decodeError([4, 1, 108, 4, 1, 109, 6, 6]) == .elementInList)   // lists never nest
        #expect(decodeError([4, 1, 108, 1, 1, 115, 2, 6]) == .elementInList)
        #expect(decodeError([4, 1, 108, 2]) == .elementInList)
        #expect(decodeError([4, 1, 108]) == .unterminatedList)
        #expect(decodeError([4, 1, 108, 5, 0, 1, 120]) == .unterminatedList)
    }

    @Test func namesMustBePrintableASCIIAndUnique() {
        #expect(decodeError([3, 1, 0x01, 0, 0]) == .invalidName)
        #expect(decodeError([3, 2, 0xC3, 0xA9, 0, 0]) == .invalidName)   // "é": strongSwan's isprint refuses it too
        #expect(decodeError([1, 1, 0x7F, 2]) == .invalidName)
        #expect(decodeError([3, 1, 97, 0, 0, 3, 1, 97, 0, 0]) == .duplicateKey)
        #expect(decodeError([3, 1, 97, 0, 0, 4, 1, 97, 6]) == .duplicateKey)
        #expect(decodeError([1, 1, 97, 2, 1, 1, 97, 2]) == .duplicateKey)
        // The same name in different sections is fine.
        #expect(decodeError([3, 1, 97, 0, 0, 1, 1, 115, 3, 1, 97, 0, 0, 2]) == nil)
        #expect(packetError([0, 1, 0x0A]) == .invalidName)
        #expect(packetError([3, 1, 0xFF]) == .invalidName)
    }

    @Test func nestingLimit() {
        func nested(_ levels: Int) -> [UInt8] {
            Array([[UInt8]](repeating: [1, 1, 115], count: levels).joined()) + [UInt8](repeating: 2, count: levels)
        }
        #expect(decodeError(nested(VICIMessage.maxDepth)) == nil)
        #expect(decodeError(nested(VICIMessage.maxDepth + 1)) == .nestingTooDeep)
        // A hostile stack of 200,000 opens stops at the limit instead of the stack.
        #expect(decodeError(Array([[UInt8]](repeating: [1, 0], count: 200_000).joined())) == .nestingTooDeep)
    }

    @Test func sizeLimit() throws {
        var m = VICIMessage()
        for i in 0..<8 { m["v\(i)"] = .value([UInt8](repeating: 1, count: 0xFFFF - 10)) }
        let bytes = m.encoded()
        #expect(bytes.count <= VICIMessage.maxSize)
        #expect(try VICIMessage.decode(bytes) == m)
        #expect(decodeError(bytes + [UInt8](repeating: 0, count: VICIMessage.maxSize + 1 - bytes.count)) == .oversized)
        #expect(packetError([1] + [UInt8](repeating: 0, count: VICIMessage.maxSize)) == .oversized)
        #expect(throws: VICIError(.oversized)) { try VICIMessage.decode([3, 1, 97, 0, 0], maxSize: 4) }
        #expect(VICIMessage.maxSize == 512 * 1024)
    }

    @Test func packetRules() {
        #expect(packetError([8]) == .badPacketType)
        #expect(packetError([255, 0]) == .badPacketType)
        #expect(packetError([2, 0]) == .trailingBytes)
        #expect(packetError([5, 5]) == .trailingBytes)
        #expect(packetError([3, 1, 97, 0]) == .trailingBytes)
        #expect(packetError([1, 2]) == .unbalancedSectionEnd)
        #expect(packetError([7, 1, 101, 6]) == .listItemOutsideList)
    }

    @Test func randomBytesNeverTrap() {
        var rng = SplitMix64(state: 0x7E41)
        for _ in 0..<20_000 {
            let n = Int.random(in: 0..<64, using: &rng)
            // Bias towards small element types so the structure gets exercised.
            let bytes = (0..<n).map { _ in
                Bool.random(using: &rng) ? UInt8.random(in: 0...7, using: &rng) : UInt8.random(in: 0...255, using: &rng)
            }
            if let m = try? VICIMessage.decode(bytes) { #expect(m.encoded() == bytes) }
            if let p = try? VICIPacket.decode(bytes) { #expect(p.encoded() == bytes) }
        }
    }

    @Test func mutationsOfAValidMessageEitherFailOrRoundTrip() throws {
        var rng = SplitMix64(state: 42)
        let base = VICIPacket.commandRequest(name: "load-conn", message: readmeMessage).encoded()
        for _ in 0..<20_000 {
            var bytes = base
            for _ in 0...Int.random(in: 0..<3, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: i)
                default: bytes.insert(UInt8.random(in: 0...7, using: &rng), at: i)
                }
                if bytes.isEmpty { break }
            }
            if let p = try? VICIPacket.decode(bytes) {
                #expect(p.encoded() == bytes)
                #expect(try VICIPacket.decode(p.encoded()) == p)
            }
        }
    }

    @Test func errorsDescribeTheirReason() {
        do {
            _ = try VICIMessage.decode([3, 1, 97, 0, 5, 1])
            Issue.record("decoded")
        } catch {
            #expect(error.code == .truncated)
            #expect(error.offset == 5)
            #expect(error.description.contains("truncated"))
        }
    }
}
