import CTernLibcrypto
import Crypto

/// One ephemeral key pair for an IKE KE payload (RFC 7296 §3.4) and the shared secret g^ir
/// it yields with the peer's value. Randomness comes from the caller (sans-I/O).
///
/// Private keys: the MODP exponent lives in a buffer this object owns and zeroes in deinit;
/// the ECP and X25519 keys are swift-crypto objects whose storage is zeroed when freed
/// (BoringSSL's `OPENSSL_free` cleanses, and X25519 keys are `SecureBytes`). Nothing here
/// prints or logs key bytes.
public final class KeyExchange: @unchecked Sendable {
    public let group: KeyExchangeGroup
    /// The KE payload's key exchange data: MODP g^x big-endian padded to the prime's length;
    /// ECP x ‖ y (RFC 5903 §7, no 0x04 prefix); X25519 the 32-byte u-coordinate.
    public let publicValue: [UInt8]
    private let privateKey: PrivateKey

    /// Immutable after init, which is why the class may be Sendable.
    private enum PrivateKey {
        case modp(exponent: UnsafeMutableBufferPointer<UInt8>)
        case p256(P256.KeyAgreement.PrivateKey)
        case p384(P384.KeyAgreement.PrivateKey)
        case p521(P521.KeyAgreement.PrivateKey)
        case x25519(Curve25519.KeyAgreement.PrivateKey)
    }

    /// Bytes of MODP private exponent: strongSwan's lengths (48 for 2048 and 3072, 64 for
    /// 4096), at least twice the group's security strength as RFC 3526 §8 advises. The top bit
    /// is always set so every exponent of a group has the same length and the same
    /// constant-time exponentiation cost.
    static func modpExponentLength(_ group: KeyExchangeGroup) -> Int {
        switch group {
        case .modp2048, .modp3072: 48
        default: 64
        }
    }

    /// Scalars are drawn by rejection sampling; this many rejections in a row means the RNG is broken.
    private static let maximumScalarAttempts = 64

    /// Generates a fresh key pair of `group` from `rng`.
    public init(group: KeyExchangeGroup, rng: inout some RandomNumberGenerator) throws(CryptoError) {
        self.group = group
        switch group {
        case .modp2048, .modp3072, .modp4096:
            var exponent = Self.randomBytes(Self.modpExponentLength(group), using: &rng)
            defer { Self.cleanse(&exponent) }
            exponent[0] |= 0x80
            (privateKey, publicValue) = try Self.modp(group, exponent: exponent)
        case .ecp256, .ecp384, .ecp521, .curve25519:
            var keyPair: (PrivateKey, [UInt8])?
            for _ in 0..<Self.maximumScalarAttempts where keyPair == nil {
                var scalar = Self.randomBytes(group.sharedSecretLength, using: &rng)
                defer { Self.cleanse(&scalar) }
                // P-521 scalars are 66 bytes but below 2^521: keep 1 bit of the first byte.
                if group == .ecp521 { scalar[0] &= 0x01 }
                keyPair = try? Self.curve(group, scalar: scalar)  // nil: zero or >= the order, draw again
            }
            guard let keyPair else {
                throw CryptoError("\(group.strongSwanName): no valid private scalar after \(Self.maximumScalarAttempts) draws (broken RNG?)")
            }
            (privateKey, publicValue) = keyPair
        }
    }

    /// A key pair from a fixed private key, for known-answer tests: the MODP exponent, the ECP
    /// scalar (exactly the coordinate length, big-endian) or the X25519 scalar.
    package init(group: KeyExchangeGroup, privateKey: [UInt8]) throws(CryptoError) {
        self.group = group
        if group.isMODP {
            (self.privateKey, publicValue) = try Self.modp(group, exponent: privateKey)
        } else {
            (self.privateKey, publicValue) = try Self.curve(group, scalar: privateKey)
        }
    }

    deinit {
        if case .modp(let exponent) = privateKey {
            tern_cleanse(exponent.baseAddress, exponent.count)
            exponent.deallocate()
        }
    }

    /// Validates the peer's KE data and returns g^ir: MODP padded to the prime's length, ECP
    /// the x-coordinate (RFC 5903 §7), X25519 32 bytes. Rejects a wrong length; MODP values
    /// outside 1 < y < p-1 or outside the prime-order subgroup; ECP points not on the curve;
    /// an X25519 result of all zeros (a small-order peer point, RFC 7748 §6.1).
    public func sharedSecret(peerPublicValue peer: [UInt8]) throws(CryptoError) -> [UInt8] {
        let name = group.strongSwanName
        guard peer.count == group.publicValueLength else {
            throw CryptoError("\(name): peer's key exchange data must be \(group.publicValueLength) bytes, got \(peer.count)")
        }
        switch privateKey {
        case .modp(let exponent):
            var shared = [UInt8](repeating: 0, count: group.sharedSecretLength)
            let result = shared.withUnsafeMutableBufferPointer { out in
                peer.withUnsafeBufferPointer { peerBytes in
                    tern_modp_shared(Int32(group.publicValueLength * 8), exponent.baseAddress, exponent.count,
                                     peerBytes.baseAddress, peerBytes.count, out.baseAddress)
                }
            }
            guard result == 1 else {
                throw CryptoError(result == -1
                    ? "\(name): peer's public value is invalid (not 1 < y < p-1 in the prime-order subgroup)"
                    : "\(name): libcrypto failed computing the shared secret")
            }
            return shared
        case .p256(let key):
            return try Self.agree(name) { try key.sharedSecretFromKeyAgreement(with: .init(rawRepresentation: peer)) }
        case .p384(let key):
            return try Self.agree(name) { try key.sharedSecretFromKeyAgreement(with: .init(rawRepresentation: peer)) }
        case .p521(let key):
            return try Self.agree(name) { try key.sharedSecretFromKeyAgreement(with: .init(rawRepresentation: peer)) }
        case .x25519(let key):
            let shared = try Self.agree(name) { try key.sharedSecretFromKeyAgreement(with: .init(rawRepresentation: peer)) }
            // swift-crypto does not refuse the all-zero output; RFC 7748 §6.1 / RFC 8031 §2.3 say to.
            guard shared.reduce(0, |) != 0 else {
                throw CryptoError("\(name): peer's public value is a small-order point (all-zero shared secret)")
            }
            return shared
        }
    }

    /// The RFC 3526 prime of a MODP group (libcrypto's copy), for tests; nil for other groups.
    package static func modpPrime(_ group: KeyExchangeGroup) -> [UInt8]? {
        guard group.isMODP else { return nil }
        var prime = [UInt8](repeating: 0, count: group.publicValueLength)
        let ok = prime.withUnsafeMutableBufferPointer { tern_modp_prime(Int32(group.publicValueLength * 8), $0.baseAddress) }
        return ok == 1 ? prime : nil
    }

    // MARK: - Construction helpers

    private static func modp(_ group: KeyExchangeGroup, exponent: [UInt8]) throws(CryptoError)
        -> (PrivateKey, [UInt8]) {
        guard !exponent.isEmpty, exponent.contains(where: { $0 != 0 }) else {
            throw CryptoError("\(group.strongSwanName): private exponent must not be zero")
        }
        var publicValue = [UInt8](repeating: 0, count: group.publicValueLength)
        let ok = publicValue.withUnsafeMutableBufferPointer { out in
            exponent.withUnsafeBufferPointer {
                tern_modp_public(Int32(group.publicValueLength * 8), $0.baseAddress, $0.count, out.baseAddress)
            }
        }
        guard ok == 1 else { throw CryptoError("\(group.strongSwanName): libcrypto failed computing the public value") }
        let stored = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: exponent.count)
        _ = stored.initialize(from: exponent)
        return (.modp(exponent: stored), publicValue)
    }

    private static func curve(_ group: KeyExchangeGroup, scalar: [UInt8]) throws(CryptoError) -> (PrivateKey, [UInt8]) {
        do {
            switch group {
            case .ecp256:
                let key = try P256.KeyAgreement.PrivateKey(rawRepresentation: scalar)
                return (.p256(key), Array(key.publicKey.rawRepresentation))
            case .ecp384:
                let key = try P384.KeyAgreement.PrivateKey(rawRepresentation: scalar)
                return (.p384(key), Array(key.publicKey.rawRepresentation))
            case .ecp521:
                let key = try P521.KeyAgreement.PrivateKey(rawRepresentation: scalar)
                return (.p521(key), Array(key.publicKey.rawRepresentation))
            case .curve25519:
                let key = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: scalar)
                return (.x25519(key), Array(key.publicKey.rawRepresentation))
            case .modp2048, .modp3072, .modp4096:
                break
            }
        } catch {
            throw CryptoError("\(group.strongSwanName): invalid private scalar (\(scalar.count) bytes; must be \(group.sharedSecretLength), nonzero and below the group order)")
        }
        throw CryptoError("\(group.strongSwanName) is not an elliptic-curve group")
    }

    /// Runs a swift-crypto key agreement, mapping its untyped error to "not on the curve".
    private static func agree(_ name: String, _ body: () throws -> SharedSecret) throws(CryptoError) -> [UInt8] {
        do {
            return try body().withUnsafeBytes { Array($0) }
        } catch {
            throw CryptoError("\(name): peer's public value is not a valid point on the curve")
        }
    }

    private static func randomBytes(_ count: Int, using rng: inout some RandomNumberGenerator) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            var word = rng.next()
            for _ in 0..<min(8, count - index) {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        return bytes
    }

    private static func cleanse(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { tern_cleanse($0.baseAddress, $0.count) }
    }
}
