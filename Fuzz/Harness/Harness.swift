import Foundation

/// The fuzz targets of issue 16. Each one takes any bytes, feeds them to an
/// entry point that reads untrusted input, and checks what comes back:
/// either a refusal (nil, a thrown error) or a value that round-trips. A
/// Swift runtime trap (index out of range, force unwrap, overflow) or a
/// broken invariant (`check`) is a finding: libFuzzer sees the crash.
///
/// The same functions serve libFuzzer (Fuzz/Package.swift, scripts/fuzz)
/// and the corpus replay of the normal test suite (FuzzCorpusTests).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// Shared/Bus/Envelope.swift: call and reply headers, the protobuf-c
    /// event header and the hand-written one-frame event decoder.
    case envelope
    /// Shared/Bus/ProtoCodec.swift through generated mirrors of ExamContracts.
    case proto
    /// Services/RosterCore: the qualified-candidate CSV import (R1).
    case roster
    /// Shared/ExamPlan: the JSON plan file.
    case plan
    /// Services/ScoringCore/ScoreSheet.swift: the CSV score sheet (R50).
    case sheet

    /// Runs one input.
    public func run(_ data: UnsafeRawBufferPointer) {
        switch self {
        case .envelope: EnvelopeFuzz.run(data)
        case .proto: ProtoFuzz.run(data)
        case .roster: RosterFuzz.run(data)
        case .plan: PlanFuzz.run(data)
        case .sheet: SheetFuzz.run(data)
        }
    }

    public func run(_ bytes: [UInt8]) { bytes.withUnsafeBytes { run($0) } }

    /// Valid inputs made by the real encoders (the generated part of each
    /// corpus, written by `FUZZ_WRITE_SEEDS=dir fuzz-<target>`).
    public func seeds() -> [(name: String, bytes: [UInt8])] {
        switch self {
        case .envelope: EnvelopeFuzz.seeds()
        case .proto: ProtoFuzz.seeds()
        case .roster: RosterFuzz.seeds()
        case .plan: PlanFuzz.seeds()
        case .sheet: SheetFuzz.seeds()
        }
    }

    /// Inputs longer than this are not interesting (libFuzzer's -max_len).
    public var maxLength: Int {
        switch self {
        case .envelope: 512
        case .proto: 1024
        case .roster, .plan: 8192
        case .sheet: 2048
        }
    }

    /// For the libFuzzer executables' LLVMFuzzerInitialize: with
    /// FUZZ_WRITE_SEEDS=dir, writes `seeds()` into dir and exits.
    public func initialize() {
        guard let dir = ProcessInfo.processInfo.environment["FUZZ_WRITE_SEEDS"], !dir.isEmpty else { return }
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for s in seeds() {
            _ = FileManager.default.createFile(atPath: dir + "/" + s.name, contents: Data(s.bytes))
        }
        print("wrote \(seeds().count) seeds of \(rawValue) to \(dir)")
        exit(0)
    }
}

/// A broken invariant: a finding, with what was expected.
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
           file: StaticString = #file, line: UInt = #line) {
    if !condition() { fatalError("fuzz invariant: \(message())", file: file, line: line) }
}

extension UnsafeRawBufferPointer {
    /// The input without its first byte (the selector byte of a target).
    var tail: UnsafeRawBufferPointer { count > 1 ? UnsafeRawBufferPointer(rebasing: self[1...]) : UnsafeRawBufferPointer(start: nil, count: 0) }
}
