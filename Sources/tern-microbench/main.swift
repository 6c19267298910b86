// The data plane's per-packet cost against the bare AEAD on the same bytes, with allocations
// counted. A benchmark, not a test: it prints figures. Run through bench/micro.sh (release).
//
// "Tern path" = OutboundProcessor on host A (SPD lookup, SA, tunnel encapsulation, seal) and
// InboundProcessor on host B (SAD lookup, replay check, open, padding, inner policy check,
// replay commit), in place in one buffer, plus copying the 1400-byte packet back in each time.
// "AEAD" = ESPCipher.seal + open of the same 1400 bytes: libcrypto EVP with the per-SA context
// Tern keeps, nothing else: the floor the path is measured against.
import CTernMallocCounter
import Foundation
import TernCrypto
import TernDataPlane
import TernTestSupport
import TernWire
#if canImport(Glibc)
import Glibc
#endif

let packetSize = 1400
let iterations = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 200_000
let rounds = 5

func now() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

struct Measurement { var nsPerPacket: Double; var mallocsPerPacket: Double; var libcryptoPerPacket: Double? }

func measure(_ n: Int, _ body: () -> Void) -> Measurement {
    let m0 = tern_malloc_count()
    let c0 = libcryptoAllocationsOnThisThread()
    let t0 = now()
    for _ in 0..<n { body() }
    let t1 = now()
    let m1 = tern_malloc_count()
    let c1 = libcryptoAllocationsOnThisThread()
    let lib: Double? = c0.flatMap { a in c1.map { Double($0 - a) / Double(n) } }
    return Measurement(nsPerPacket: Double(t1 - t0) / Double(n), mallocsPerPacket: Double(m1 - m0) / Double(n),
                       libcryptoPerPacket: lib)
}

struct Suite { let name: String; let encryption: EncryptionAlgorithm; let integrity: IntegrityAlgorithm }
let suites = [
    Suite(name: "AES-256-GCM", encryption: .aesGCM16(keyBits: 256), integrity: .none),
    Suite(name: "ChaCha20-Poly1305", encryption: .chacha20Poly1305, integrity: .none),
    Suite(name: "AES-128-CBC+HMAC-SHA-256", encryption: .aesCBC(keyBits: 128), integrity: .hmacSHA256_128),
]

/// seal+open of `packetSize` bytes with the bare cipher.
func aeadLoop(_ suite: Suite, slot: TestSlot) throws -> () -> Void {
    var rng = SeededBytes(seed: 7)
    let cipher = try ESPCipher(encryption: suite.encryption, encryptionKey: rng.bytes(suite.encryption.keyMaterialLength),
                               integrity: suite.integrity, integrityKey: rng.bytes(suite.integrity.keyLength))
    // The plaintext an ESP tunnel packet carries: inner packet ‖ padding ‖ pad length ‖ next header.
    let plain = (packetSize + 2 + cipher.blockSize - 1) / cipher.blockSize * cipher.blockSize
    let esp = slot.base + packetHeadroom
    let total = 8 + cipher.ivLength + plain + cipher.icvLength
    var seq: UInt64 = 0
    return {
        seq += 1
        guard cipher.seal(esp: esp, plaintextLength: plain, sequence: seq, esn: false),
              cipher.open(esp: esp, totalLength: total, sequenceHigh: 0, esn: false) else { fatalError("AEAD round trip failed") }
    }
}

/// One packet through A's outbound and B's inbound processing.
func pathLoop(_ suite: Suite, slot: TestSlot) throws -> (loop: () -> Void, pair: TunnelPair) {
    let pair = try TunnelPair(encryption: suite.encryption, integrity: suite.integrity)
    let packet = PacketFactory.udp(from: TunnelPair.innerA4, to: TunnelPair.innerB4, payloadLength: packetSize - 28)
    precondition(packet.count == packetSize)
    return ({
        var pkt = slot.load(packet)
        guard case .send(let t) = OutboundProcessor.process(&pkt, snapshot: pair.a, drops: pair.dropsA, now: 1_000) else {
            fatalError("outbound did not send")
        }
        let ctx = pair.contextAtB(t, proto: .esp, packet: pkt)
        guard case .deliver = InboundProcessor.process(&pkt, context: ctx, snapshot: pair.b, drops: pair.dropsB, now: 1_000) else {
            fatalError("inbound did not deliver")
        }
    }, pair)
}

/// The packet copy alone, to show how much of the path it is.
func copyLoop(slot: TestSlot) -> () -> Void {
    let packet = PacketFactory.udp(from: TunnelPair.innerA4, to: TunnelPair.innerB4, payloadLength: packetSize - 28)
    return { _ = slot.load(packet) }
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
func gbps(_ ns: Double) -> String { String(format: "%.2f", Double(packetSize * 8) / ns) }
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }

// The counter must see allocations, or "0 per packet" would mean nothing.
let before = tern_malloc_count()
let probe = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16); probe.deallocate()
guard tern_malloc_count() > before else { print("tern-microbench: the malloc counter saw no allocation; not interposed"); exit(1) }

print("tern-microbench: \(packetSize)-byte IPv4 packets, ESP tunnel mode, \(iterations) packets x \(rounds) rounds, median; AEAD and path interleaved")
print(pad("suite", 26) + lpad("AEAD ns", 9) + lpad("Gbit/s", 8) + lpad("path ns", 9) + lpad("Gbit/s", 8)
      + lpad("path/AEAD", 11) + lpad("copy ns", 9) + lpad("mallocs/pkt", 13) + lpad("libcrypto allocs/pkt", 22))
var worstRatio = 0.0, worstMallocs = 0.0
for suite in suites {
    let slot = TestSlot()
    let aead = try aeadLoop(suite, slot: slot)
    let (path, pair) = try pathLoop(suite, slot: slot)
    let copy = copyLoop(slot: slot)
    _ = measure(iterations / 10, aead); _ = measure(iterations / 10, path)   // warm up
    var a = [Double](), p = [Double](), c = [Double](), mallocs = [Double](), lib = [Double]()
    for _ in 0..<rounds {
        a.append(measure(iterations, aead).nsPerPacket)
        let m = measure(iterations, path)
        p.append(m.nsPerPacket); mallocs.append(m.mallocsPerPacket)
        if let l = m.libcryptoPerPacket { lib.append(l) }
        c.append(measure(iterations, copy).nsPerPacket)
    }
    _ = pair
    let ratio = median(p) / median(a)
    worstRatio = max(worstRatio, ratio); worstMallocs = max(worstMallocs, mallocs.max() ?? 0)
    print(pad(suite.name, 26) + lpad(String(format: "%.0f", median(a)), 9) + lpad(gbps(median(a)), 8)
          + lpad(String(format: "%.0f", median(p)), 9) + lpad(gbps(median(p)), 8)
          + lpad(String(format: "%.2f", ratio), 11) + lpad(String(format: "%.0f", median(c)), 9)
          + lpad(String(format: "%.4f", mallocs.max() ?? 0), 13)
          + lpad(lib.isEmpty ? "n/a" : String(format: "%.4f", lib.max() ?? 0), 22))
}
print("targets: path/AEAD <= 1.30 (worst \(String(format: "%.2f", worstRatio)): \(worstRatio <= 1.3 ? "met" : "NOT met")), "
      + "0 allocations per packet (worst \(String(format: "%.4f", worstMallocs)): \(worstMallocs == 0 ? "met" : "NOT met"))")
