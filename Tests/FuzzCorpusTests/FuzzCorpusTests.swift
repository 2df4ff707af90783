import Foundation
import FuzzHarness
import Testing

/// Replays every committed fuzz corpus (Fuzz/Corpus/<target>/: the seeds
/// and every input that once crashed, issue 16) and the generated seeds
/// through the same entry points libFuzzer drives, without libFuzzer: a
/// crash fixed once stays fixed in the normal test run.
@Suite("fuzz corpora (issue 16)")
struct FuzzCorpusTests {
    static let corpusRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus")

    @Test(arguments: FuzzTarget.allCases)
    func corpusReplays(_ target: FuzzTarget) throws {
        let dir = Self.corpusRoot.appendingPathComponent(target.rawValue)
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
        #expect(files.count >= 2, "Fuzz/Corpus/\(target.rawValue) has \(files.count) inputs")
        for f in files.sorted(by: { $0.path < $1.path }) {
            target.run([UInt8](try Data(contentsOf: f)))
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func generatedSeedsReplay(_ target: FuzzTarget) {
        let seeds = target.seeds()
        #expect(!seeds.isEmpty)
        for s in seeds { target.run(s.bytes) }
    }
}
