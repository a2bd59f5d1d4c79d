// swift-tools-version: 6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "filer",
    products: [
        .executable(name: "filer", targets: ["filer"]),
        // For the fuzzer's package in Fuzz/, which builds it with sanitizer flags of its own.
        .library(name: "FilerProtocol", targets: ["FilerProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // C libraries from Debian, and the few Linux calls Swift cannot make itself.
        .systemLibrary(
            name: "CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .target(name: "CFilerLinux"),

        // Swift layers over C: each owns its resources and reports errors with the failing call.
        .target(name: "Posix", dependencies: ["CFilerLinux"], swiftSettings: strictSettings),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ", "Posix"], swiftSettings: strictSettings),
        .target(
            name: "Systemd",
            dependencies: ["CSystemd", "Posix", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),

        // The wire protocol: the request parser and the reply writer, no system calls.
        .target(name: "FilerProtocol", swiftSettings: strictSettings),

        // The filer itself: configuration, confined reads, broker, supervisor, worker.
        .target(
            name: "FilerCore",
            dependencies: [
                "FilerProtocol", "Posix", "ZeroMQ", "Systemd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "filer",
            dependencies: [
                "FilerCore", "FilerProtocol", "Systemd", "ZeroMQ", "Posix",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"], swiftSettings: strictSettings),
        .testTarget(
            name: "SystemdTests",
            dependencies: ["Systemd", "Posix", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "FilerProtocolTests", dependencies: ["FilerProtocol"], swiftSettings: strictSettings),
        .testTarget(
            name: "FilerCoreTests",
            dependencies: ["FilerCore", "FilerProtocol", "Posix", "ZeroMQ", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
    ]
)
