/// Every failure of TernPKI: a stable code to branch on, and a sentence for people.
public struct PKIError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: UInt8, Sendable, Hashable, CaseIterable {
        case malformedPEM            // BEGIN without END, bad base64
        case malformedDER            // not the ASN.1 structure expected
        case unsupportedKeyType      // a key algorithm TernPKI does not handle (DSA, Ed448, ...)
        case unsupportedKeySize      // RSA outside 2048...8192, an unknown curve
        case encryptedKey            // an encrypted private key (no passphrase support)
        case unsupportedAlgorithm    // a signature algorithm TernPKI does not handle
        case schemeMismatch          // a signature scheme that does not fit the key
        case signingFailed           // the crypto library refused to sign
        case invalidDistinguishedName
        case invalidIdentity         // a --san that is none of DNS, IP, email, DN
        case notACertificate
        case notARequest
        case notACRL
        case notACA                  // issuing with a certificate that lacks CA:TRUE
        case keyMismatch             // a CA key that does not belong to the CA certificate
        case badSignature            // a request whose self-signature does not verify
        case invalidInput            // anything else a user typed
    }

    public let code: Code
    private let detail: String

    @inline(never)
    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { detail }

    /// Errors compare by code only: the sentence may be reworded.
    public static func == (a: PKIError, b: PKIError) -> Bool { a.code == b.code }
}
