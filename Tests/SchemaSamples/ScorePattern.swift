// The OpenAPI document's Score pattern and the texts tried against it, for
// the tests that check the edge (GatewayCoreTests) and scoring
// (ScoringCoreTests) take exactly what it allows (issue 22: " 80" was taken).
import Foundation

public enum ScorePattern {
    /// protos/http/openapi.json's Score.score pattern, its `\d` made ASCII
    /// digits as ECMA-262's is.
    public static func regex() throws -> NSRegularExpression {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: repo.appendingPathComponent("protos/http/openapi.json"))) as? [String: Any]
        let schemas = (doc?["components"] as? [String: Any])?["schemas"] as? [String: Any]
        let score = ((schemas?["Score"] as? [String: Any])?["properties"] as? [String: Any])?["score"] as? [String: Any]
        guard let pattern = score?["pattern"] as? String else { throw CocoaError(.fileReadCorruptFile) }
        return try NSRegularExpression(pattern: pattern.replacingOccurrences(of: "\\d", with: "[0-9]"))
    }

    /// Scores written well and badly: spaces, signs, leading zeros, other
    /// digits, other notations.
    public static let samples = ["0", "5", "00", "05", "80", "99.99", "100", "100.0", "100.00", "85.5", "85.50", "0.01",
                                 " 80", "80 ", "\t80", "80\n", "\u{3000}80", "8 0", "+80", "-0", "-1", "080", "0100", "100.01", "101",
                                 "100.001", "85.505", ".5", "5.", "1e2", "８０", "٨٠", "85,5", "", "NaN", "0x50"]

    /// Whether the whole of `text` matches (ICU's `$` would also match
    /// before a final newline; ECMA-262's does not).
    public static func allows(_ text: String, _ rx: NSRegularExpression) -> Bool {
        let whole = NSRange(text.startIndex..., in: text)
        return rx.firstMatch(in: text, range: whole)?.range == whole
    }
}
