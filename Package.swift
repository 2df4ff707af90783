// swift-tools-version:6.1
import PackageDescription

// The interview mesh: six services (roster, timing, devices, discipline,
// scoring, recordings) over ZeroMQ + protobuf-c, each with its own SQLite store.
// See README.md and ../shared/SPEC.md.

let package = Package(
    name: "ExamMesh",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "exam-protogen", targets: ["ProtoGen"]),
        .executable(name: "bus-bench", targets: ["BusBench"]),
        .executable(name: "bus-probe", targets: ["BusProbe"]),
        .executable(name: "examctl", targets: ["ExamCtl"]),
        .executable(name: "discipline", targets: ["Discipline"]),
        .executable(name: "recordings", targets: ["Recordings"]),
        .executable(name: "media", targets: ["Media"]),
        .executable(name: "timing", targets: ["Timing"]),
        .executable(name: "scoring", targets: ["Scoring"]),
        .executable(name: "roster", targets: ["Roster"]),
        .executable(name: "devices", targets: ["Devices"]),
        .executable(name: "exam-mesh", targets: ["ExamMesh"]),
        .executable(name: "proctor", targets: ["Proctor"]),
        .executable(name: "phone-sim", targets: ["PhoneSimTool"]),
        .executable(name: "devices-bench", targets: ["DevicesBench"]),
        .executable(name: "gateway", targets: ["Gateway"]),
        .executable(name: "gateway-bench", targets: ["GatewayBench"]),
        .executable(name: "roster-bench", targets: ["RosterBench"]),
        .executable(name: "login-bench", targets: ["LoginBench"]),
        .executable(name: "timing-bench", targets: ["TimingBench"]),
        .executable(name: "recordings-bench", targets: ["RecordingsBench"]),
        // The fuzz targets' entry points (issue 16): Fuzz/Package.swift
        // links them with libFuzzer; FuzzCorpusTests replays the corpora.
        .library(name: "FuzzHarness", targets: ["FuzzHarness"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // The edge (R60): HTTP and WebSockets for phones and browsers.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        // Already in the graph (Hummingbird's); named for NIOHTTP1's parser
        // error, which the gateway answers itself (issue 22).
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        // The gateway's GET /metrics (issue 13): Prometheus text.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries from Debian packages (scripts/setup installs them).
        .systemLibrary(name: "CZMQ", path: "Shared/CZMQ", pkgConfig: "libzmq",
                       providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CProtobufC", path: "Shared/CProtobufC", pkgConfig: "libprotobuf-c",
                       providers: [.apt(["libprotobuf-c-dev"])]),
        // protoc-c's output for protos/ (committed; scripts/gen-protos regenerates it).
        .target(name: "ExamProtoC", dependencies: ["CProtobufC"], path: "Shared/ExamProtoC"),
        // Writes Shared/ExamContracts/ExamV1.generated.swift from the descriptors above.
        .executableTarget(name: "ProtoGen", dependencies: ["ExamProtoC", "CProtobufC"],
                          path: "Shared/ProtoGen"),

        // The only code that touches libzmq and protobuf-c.
        .target(name: "Bus", dependencies: [
            "CZMQ", "CProtobufC", "ExamProtoC",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Shared/Bus"),
        // Swift mirrors of protos/ (generated) plus the topic names.
        .target(name: "ExamContracts", dependencies: ["Bus"], path: "Shared/ExamContracts"),
        // The only code that sets SQLite pragmas and runs migrations.
        .target(name: "Store", dependencies: [
            .product(name: "GRDB", package: "GRDB.swift"),
        ], path: "Shared/Store"),
        // The exam plan (one parser for every service), Beijing time. Pure.
        .target(name: "ExamPlan", path: "Shared/ExamPlan"),
        // The five services' pure cores: state machines, no I/O, no clock.
        .target(name: "RosterCore", dependencies: ["ExamPlan"], path: "Services/RosterCore"),
        .target(name: "TimingCore", dependencies: ["ExamPlan"], path: "Services/TimingCore"),
        .target(name: "DevicesCore", dependencies: [
            "ExamPlan", .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Services/DevicesCore"),
        .target(name: "DisciplineCore", dependencies: ["ExamPlan"], path: "Services/DisciplineCore"),
        .target(name: "ScoringCore", dependencies: ["ExamPlan"], path: "Services/ScoringCore"),
        .target(name: "RecordingsCore", dependencies: [
            "ExamPlan", .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Services/RecordingsCore"),
        .target(name: "MediaCore", dependencies: ["ExamPlan"], path: "Services/MediaCore"),
        // Salted slow password hashes and opaque tokens (roster's candidates, the gateway's staff).
        .target(name: "Passwords", dependencies: [
            "RosterCore",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ], path: "Shared/Passwords"),
        // Reproducible demo data: a qualified-candidate list and a plan for it.
        .target(name: "DemoKit", dependencies: ["ExamPlan"], path: "Shared/DemoKit"),
        // The exam day as its people play it: candidates' clients and staff,
        // for the demo and the end-to-end tests.
        .target(name: "ExamDay", dependencies: ["ServiceKit", "Bus", "ExamContracts", "ExamPlan", "DemoKit", "PhoneSim", "NetLab"],
                path: "Shared/ExamDay"),
        // Real hosts (issue 16): network namespaces on a bridge, partitions,
        // loss and delay on their links, the delaying relay. Foundation only.
        .target(name: "NetLab", path: "Shared/NetLab"),
        // The service shell: configuration, mesh file, lifecycle, engine, launcher.
        .target(name: "ServiceKit", dependencies: [
            "Bus", "ExamContracts", "Store", "ExamPlan",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ], path: "Shared/ServiceKit"),

        // The five services: thin shells around their cores.
        .executableTarget(name: "Discipline", dependencies: [
            "DisciplineCore", "ServiceKit", "Bus", "ExamContracts", "ExamPlan", "Store",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Services/Discipline"),

        .executableTarget(name: "Timing", dependencies: [
            "TimingCore", "ServiceKit", "Bus", "ExamContracts", "ExamPlan", "Store",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Services/Timing"),

        .executableTarget(name: "Scoring", dependencies: [
            "ScoringCore", "ServiceKit", "Bus", "ExamContracts", "ExamPlan", "Store",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Services/Scoring"),

        .executableTarget(name: "Roster", dependencies: [
            "RosterCore", "ServiceKit", "Bus", "ExamContracts", "ExamPlan", "Store", "Passwords",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ], path: "Services/Roster"),

        .executableTarget(name: "Recordings", dependencies: [
            "RecordingsCore", "ServiceKit", "Bus", "ExamContracts", "ExamPlan", "Store",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Services/Recordings"),

        // The live rooms (R64, R65): the only member that talks to Janus.
        .executableTarget(name: "Media", dependencies: [
            "MediaCore", "ServiceKit", "Bus", "ExamContracts", "ExamPlan", "Store",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Services/Media"),

        .executableTarget(name: "Devices", dependencies: [
            "DevicesCore", "ServiceKit", "Bus", "ExamContracts", "ExamPlan", "Store",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Services/Devices"),

        // The edge (R60-R63): HTTP/JSON + WebSocket for candidates' phones,
        // a thin Hummingbird application around GatewayCore.
        .target(name: "GatewayCore", dependencies: ["ExamPlan"], path: "Services/GatewayCore"),
        .target(name: "GatewayApp", dependencies: [
            "GatewayCore", "ServiceKit", "Bus", "ExamContracts", "ExamPlan", "RosterCore", "Passwords", "ExamDay", "Store",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], path: "Services/GatewayApp"),
        .executableTarget(name: "Gateway", dependencies: [
            "GatewayApp", "GatewayCore", "ServiceKit", "Bus", "ExamContracts", "ExamPlan", "Passwords",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Services/Gateway", exclude: ["web"]),

        // Ops tools.
        .executableTarget(name: "ExamCtl", dependencies: [
            "ServiceKit", "Bus", "ExamContracts", "ExamPlan",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Services/ExamCtl"),
        .executableTarget(name: "ExamMesh", dependencies: [
            "ServiceKit", "Bus", "ExamContracts", "ExamPlan", "DemoKit", "ExamDay", "NetLab",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Services/ExamMesh"),
        .executableTarget(name: "Proctor", dependencies: [
            "ServiceKit", "Bus", "ExamContracts", "ExamPlan", "ExamDay",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Services/Proctor"),

        .executableTarget(name: "BusBench", dependencies: ["Bus", "ExamContracts", "CZMQ"],
                          path: "Tests/BusBench"),
        .executableTarget(name: "BusProbe", dependencies: [
            "ServiceKit", "Bus", "ExamContracts",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Tests/BusProbe"),

        // The phone simulator: candidates' two phones against a running mesh
        // (R30-R35), scripted from a scenario file; the library builds
        // scenarios for the demo and the tests.
        .target(name: "PhoneSim", dependencies: [
            "ServiceKit", "Bus", "ExamContracts", "ExamPlan", "DemoKit",
            .product(name: "Logging", package: "swift-log"),
            // The SHA-256 of every recording chunk it uploads (R37).
            .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Shared/PhoneSim"),
        .executableTarget(name: "PhoneSimTool", dependencies: [
            "PhoneSim", "ServiceKit",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Services/PhoneSim"),
        .executableTarget(name: "DevicesBench", dependencies: [
            "DevicesCore", "ServiceKit", "Bus", "ExamContracts", "ExamPlan",
        ], path: "Tests/DevicesBench"),

        .executableTarget(name: "TimingBench", dependencies: ["TimingCore", "ExamPlan"], path: "Tests/TimingBench"),
        .executableTarget(name: "GatewayBench", dependencies: [
            "ServiceKit", "Bus", "ExamContracts", "DemoKit", "ExamDay", "ExamPlan",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
        ], path: "Tests/GatewayBench"),
        .executableTarget(name: "RecordingsBench", dependencies: [
            "ServiceKit", "Bus", "ExamContracts", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ], path: "Tests/RecordingsBench"),
        .executableTarget(name: "RosterBench", dependencies: [
            "ServiceKit", "Bus", "ExamContracts", "DemoKit",
        ], path: "Tests/RosterBench"),
        .executableTarget(name: "LoginBench", dependencies: [
            "ServiceKit", "Bus", "ExamContracts", "DemoKit", "Passwords",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ], path: "Tests/LoginBench"),
        // What the fuzzers feed (issue 16): the envelope decoders, the
        // protobuf-c mirrors, the roster CSV import, the plan parser and the
        // score sheet, each checking its own invariants (round trips).
        .target(name: "FuzzHarness", dependencies: [
            "Bus", "ExamContracts", "ExamPlan", "RosterCore", "ScoringCore",
        ], path: "Fuzz/Harness"),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzHarness"], path: "Tests/FuzzCorpusTests"),
        .target(name: "TestSupport", dependencies: ["ServiceKit", "Bus", "ExamContracts"], path: "Tests/TestSupport"),
        .testTarget(name: "RosterCoreTests", dependencies: ["RosterCore", "ExamPlan"], path: "Tests/RosterCoreTests"),
        .testTarget(name: "TimingCoreTests", dependencies: ["TimingCore", "ExamPlan"], path: "Tests/TimingCoreTests"),
        .testTarget(name: "DevicesCoreTests", dependencies: ["DevicesCore", "ExamPlan"], path: "Tests/DevicesCoreTests"),
        .testTarget(name: "DisciplineCoreTests", dependencies: ["DisciplineCore", "ExamPlan"], path: "Tests/DisciplineCoreTests"),
        // The OpenAPI Score pattern and its samples, for two core test targets.
        .target(name: "SchemaSamples", path: "Tests/SchemaSamples"),
        .testTarget(name: "ScoringCoreTests", dependencies: ["ScoringCore", "ExamPlan", "SchemaSamples"], path: "Tests/ScoringCoreTests"),
        .testTarget(name: "MediaCoreTests", dependencies: ["MediaCore", "ExamPlan"], path: "Tests/MediaCoreTests"),
        .testTarget(name: "RecordingsCoreTests", dependencies: ["RecordingsCore", "ExamPlan"], path: "Tests/RecordingsCoreTests"),
        .testTarget(name: "ProctorBoardTests", dependencies: ["ExamDay", "Bus", "ExamContracts"], path: "Tests/ProctorBoardTests"),
        .testTarget(name: "ExamPlanTests", dependencies: ["ExamPlan"], path: "Tests/ExamPlanTests"),
        .testTarget(name: "BusTests", dependencies: ["Bus", "ExamContracts", "CZMQ"],
                    path: "Tests/BusTests"),
        .testTarget(name: "StoreTests", dependencies: [
            "Store", "ServiceKit", "Bus", "ExamContracts", "TestSupport",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Tests/StoreTests"),
        .testTarget(name: "GatewayCoreTests", dependencies: ["GatewayCore", "ExamPlan", "SchemaSamples"], path: "Tests/GatewayCoreTests"),
        // The gateway's router with HummingbirdTesting (router and live
        // modes) around a stand-in for the mesh: every bad input, no mesh.
        .testTarget(name: "GatewayTests", dependencies: [
            "GatewayApp", "GatewayCore", "Bus", "ExamContracts", "ExamPlan", "ServiceKit", "Store", "Passwords",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
        ], path: "Tests/GatewayTests"),
        .testTarget(name: "IntegrationTests", dependencies: [
            "ServiceKit", "Bus", "ExamContracts", "TestSupport", "ExamDay", "DemoKit", "ExamPlan", "PhoneSim", "NetLab",
            .product(name: "Crypto", package: "swift-crypto"),
        ], path: "Tests/IntegrationTests"),
    ]
)
