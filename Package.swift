// swift-tools-version:6.1
import PackageDescription

// Layering (see DESIGN.md): cores (Wire, Crypto, DataPlane, Config, VICI) never touch
// sockets, clocks or files; Platform is the Linux I/O edge; Daemon wires them together.

let package = Package(
    name: "Tern",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "ternd", targets: ["ternd"]),
        .executable(name: "tern", targets: ["tern"]),
        .library(name: "TernDataPlane", targets: ["TernDataPlane"]),
        .library(name: "TernVICI", targets: ["TernVICI"]),
        .library(name: "TernConfig", targets: ["TernConfig"]),
        .library(name: "TernCrypto", targets: ["TernCrypto"]),
        .library(name: "TernWire", targets: ["TernWire"]),
        .library(name: "TernIKE", targets: ["TernIKE"]),
        .library(name: "TernPKI", targets: ["TernPKI"]),
        .library(name: "TernTestSupport", targets: ["TernTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    ],
    targets: [
        // libcrypto (OpenSSL 3) and intel-ipsec-mb (Debian's libipsec-mb-dev) for the per-packet crypto.
        .target(name: "CTernLibcrypto", linkerSettings: [.linkedLibrary("crypto"), .linkedLibrary("IPSec_MB")]),
        .target(name: "CTernLinux"),
        .target(name: "TernWire"),
        .target(name: "TernCrypto", dependencies: [
            "CTernLibcrypto", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "TernDataPlane", dependencies: [
            "TernWire", "TernCrypto", .product(name: "Atomics", package: "swift-atomics"),
        ]),
        .target(name: "TernIKE", dependencies: [
            "TernWire", "TernCrypto", "TernDataPlane", "TernPKI", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
        ]),
        // swanctl.conf and setkey files into the engine's and the data plane's configuration types.
        .target(name: "TernConfig", dependencies: [
            "TernWire", "TernCrypto", "TernDataPlane", "TernIKE", "TernPKI", "TernVICI",
            .product(name: "X509", package: "swift-certificates"),
        ]),
        .target(name: "TernVICI"),
        // Keys, requests, certificates and CRLs, interchangeable with strongSwan's pki and OpenSSL.
        .target(name: "TernPKI", dependencies: [
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .target(name: "TernPlatform", dependencies: ["CTernLinux", "TernWire"]),
        .target(name: "TernDaemon", dependencies: [
            "TernWire", "TernCrypto", "TernDataPlane", "TernConfig", "TernVICI", "TernPlatform", "TernIKE", "TernPKI", "CTernLinux",
            .product(name: "Logging", package: "swift-log"), .product(name: "Atomics", package: "swift-atomics"),
            .product(name: "X509", package: "swift-certificates"),
        ]),
        // Test doubles: packet fixtures, and two IKE endpoints in memory with a manual clock and a lossy link.
        .target(name: "TernTestSupport", dependencies: ["TernWire", "TernCrypto", "TernDataPlane", "TernIKE", "TernPKI"]),
        .target(name: "CTernMallocCounter"),
        // `swift run -c release tern-microbench`: seal+open per packet against the bare AEAD (bench/micro.sh).
        .executableTarget(name: "tern-microbench", dependencies: [
            "CTernMallocCounter", "TernTestSupport", "TernDataPlane", "TernCrypto", "TernWire",
        ]),
        .executableTarget(name: "ternd", dependencies: [
            "TernDaemon", "TernIKE", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "tern", dependencies: [
            "TernVICI", "TernDaemon", "TernConfig", "TernPKI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "TernWireTests", dependencies: ["TernWire"]),
        .testTarget(name: "TernCryptoTests", dependencies: [
            "TernCrypto", "CTernLibcrypto", .product(name: "Crypto", package: "swift-crypto"),
        ], resources: [.copy("Vectors")]),
        .testTarget(name: "TernDataPlaneTests", dependencies: ["TernDataPlane", "TernTestSupport", "TernWire", "TernCrypto"]),
        .testTarget(name: "TernConfigTests", dependencies: ["TernConfig", "TernDataPlane", "TernIKE", "TernVICI"], resources: [.copy("Fixtures")]),
        .testTarget(name: "TernVICITests", dependencies: ["TernVICI"]),
        .testTarget(name: "TernDaemonTests", dependencies: [
            "TernDaemon", "TernTestSupport", "TernVICI", "TernConfig", "TernIKE", "TernWire", "TernPKI", .product(name: "Logging", package: "swift-log"),
            .product(name: "X509", package: "swift-certificates"),
        ]),
        .testTarget(name: "TernIKETests", dependencies: [
            "TernIKE", "TernTestSupport", "TernWire", "TernCrypto", "TernDataPlane", "TernPKI", .product(name: "X509", package: "swift-certificates"),
        ]),
        .testTarget(name: "TernPKITests", dependencies: [
            "TernPKI", .product(name: "X509", package: "swift-certificates"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
