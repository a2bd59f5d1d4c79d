// swift-tools-version: 6.1
import PackageDescription

// The libFuzzer target for the wire codec: a package of its own, so that the root
// package's `swift build` never sees the sanitizer flags or libFuzzer's `main`.
// Built and run by scripts/fuzz.
let package = Package(
    name: "filer-fuzz",
    dependencies: [
        .package(name: "filer", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "FilerFuzz",
            dependencies: [.product(name: "FilerProtocol", package: "filer")],
            swiftSettings: [
                .swiftLanguageMode(.v6),
                .enableUpcomingFeature("ExistentialAny"),
                .enableUpcomingFeature("MemberImportVisibility"),
                .enableUpcomingFeature("InternalImportsByDefault"),
            ]
        ),
    ]
)
