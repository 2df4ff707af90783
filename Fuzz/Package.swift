// swift-tools-version:6.1
import PackageDescription

// libFuzzer targets (issue 16), a package of their own so the main build
// never sees -sanitize=fuzzer. Built and run by scripts/fuzz:
//   swift build --scratch-path ../.build-fuzz -Xswiftc -sanitize=fuzzer,address
// Each executable hands libFuzzer's driver one function; the entry points
// and their checks are FuzzHarness, in the main package (Fuzz/Harness),
// which FuzzCorpusTests also replays the corpora through.

let targets = ["envelope", "proto", "roster", "plan", "sheet"]

let package = Package(
    name: "ExamMeshFuzz",
    platforms: [.macOS(.v14)],
    products: targets.map { .executable(name: "fuzz-\($0)", targets: ["fuzz-\($0)"]) },
    dependencies: [.package(name: "ExamMesh", path: "..")],
    targets: [.target(name: "FuzzDriver", path: "Driver")] + targets.map {
        .executableTarget(name: "fuzz-\($0)", dependencies: ["FuzzDriver", .product(name: "FuzzHarness", package: "ExamMesh")],
                          path: "Targets/\($0)")
    }
)
