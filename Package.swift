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
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
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

        // A YAML reader over libyaml: one document into a tree, no Foundation.
        .target(name: "YAML", dependencies: ["CYAML"], swiftSettings: strictSettings),

        // The wire protocol: the request parser and the reply writer, no system calls.
        .target(name: "FilerProtocol", swiftSettings: strictSettings),

        // The configuration: one schema of keys, read from YAML, environment and flags.
        .target(
            name: "FilerConfiguration",
            dependencies: [
                "Posix", "YAML", "FilerMetrics", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        // CURVE security: certificate files, authorized keys, the ZAP handler.
        .target(name: "FilerSecurity", dependencies: ["ZeroMQ", "Posix"], swiftSettings: strictSettings),

        // What the roles share: exit codes, the status report, the worker's reports.
        .target(name: "FilerCore", dependencies: ["Posix"], swiftSettings: strictSettings),
        // The worker role: confined reads, one ROUTER socket, the reply writer.
        .target(
            name: "FilerWorker",
            dependencies: [
                "FilerCore", "FilerProtocol", "FilerSecurity", "Posix", "ZeroMQ", "CFilerLinux",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The master role: the worker pool (decisions), the event loop and the effects.
        .target(
            name: "FilerMaster",
            dependencies: [
                "FilerCore", "FilerConfiguration", "FilerProtocol", "FilerSecurity", "FilerMetrics", "Posix", "ZeroMQ",
                "Systemd", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Prometheus metrics: the snapshot the master fills in, its text exposition, and
        // the small non-blocking HTTP listener that serves it from the master's loop.
        .target(name: "FilerMetrics", dependencies: ["Posix"], swiftSettings: strictSettings),
        // The clients: `filer get` (Lazy Pirate) and `filer status`.
        .target(name: "FilerClient", dependencies: ["FilerCore", "ZeroMQ"], swiftSettings: strictSettings),
        .executableTarget(
            name: "filer",
            dependencies: [
                "FilerCore", "FilerWorker", "FilerMaster", "FilerClient", "FilerConfiguration", "FilerSecurity",
                "Systemd", "ZeroMQ", "Posix",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),

        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strictSettings),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"], swiftSettings: strictSettings),
        .testTarget(
            name: "SystemdTests",
            dependencies: ["Systemd", "Posix", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "YAMLTests", dependencies: ["YAML"], swiftSettings: strictSettings),
        .testTarget(name: "FilerProtocolTests", dependencies: ["FilerProtocol"], swiftSettings: strictSettings),
        .testTarget(
            name: "FilerConfigurationTests",
            dependencies: ["FilerConfiguration", "Posix", "TestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "FilerSecurityTests", dependencies: ["FilerSecurity", "ZeroMQ", "Posix", "TestSupport"], swiftSettings: strictSettings),
        .testTarget(name: "FilerCoreTests", dependencies: ["FilerCore"], swiftSettings: strictSettings),
        .testTarget(
            name: "FilerWorkerTests", dependencies: ["FilerWorker", "FilerProtocol", "TestSupport", "ZeroMQ"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "FilerMetricsTests", dependencies: ["FilerMetrics", "Posix"], swiftSettings: strictSettings),
        .testTarget(
            name: "FilerMasterTests",
            dependencies: ["FilerMaster", "FilerCore", "FilerConfiguration", "Posix", "FilerProtocol", "FilerSecurity", "ZeroMQ"],
            swiftSettings: strictSettings
        ),
    ]
)
