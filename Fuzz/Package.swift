// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets. Build with scripts/fuzz.sh (it passes -sanitize=fuzzer,address); each
// executable hands its per-input callback to libFuzzer's driver (FuzzSupport).
let package = Package(
    name: "TernFuzz",
    dependencies: [.package(name: "Tern", path: "..")],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(name: "FuzzInbound", dependencies: [
            "FuzzSupport", .product(name: "TernDataPlane", package: "Tern"),
            .product(name: "TernCrypto", package: "Tern"), .product(name: "TernWire", package: "Tern"),
        ]),
        .executableTarget(name: "FuzzVICI", dependencies: ["FuzzSupport", .product(name: "TernVICI", package: "Tern")]),
        .executableTarget(name: "FuzzSetkey", dependencies: ["FuzzSupport", .product(name: "TernConfig", package: "Tern")]),
        .executableTarget(name: "FuzzIKEEngine", dependencies: [
            "FuzzSupport", .product(name: "TernIKE", package: "Tern"), .product(name: "TernCrypto", package: "Tern"),
            .product(name: "TernWire", package: "Tern"), .product(name: "TernDataPlane", package: "Tern"),
            .product(name: "TernPKI", package: "Tern"),
        ]),
        .executableTarget(name: "FuzzSwanctl", dependencies: ["FuzzSupport", .product(name: "TernConfig", package: "Tern")]),
        .executableTarget(name: "FuzzIKEMessage", dependencies: ["FuzzSupport", .product(name: "TernWire", package: "Tern")]),
    ],
    swiftLanguageModes: [.v6]
)
