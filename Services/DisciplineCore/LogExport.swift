import Foundation
import ExamPlan

/// The log for the record (R43), as CSV that Excel opens as it is: UTF-8
/// with a byte-order mark, CRLF line ends, RFC 4180 quoting, one row per
/// incident and per decision in seq order, every time in Beijing time
/// ("2022-11-19 11:23:05", section 8(二) of the notice).
///
/// Candidates appear by exam number only. No resident ID number ever enters
/// this service, but staff type free text: any run of 15 or more digits
/// (an 18- or 15-character ID, final X included) is masked like the public
/// lists mask them (first 6 and last 4 shown, R55). Text a person typed that
/// starts with = + - @ gets a leading apostrophe, so Excel shows it instead
/// of running it as a formula.
public enum LogExport {
    public static let header = [
        "seq", "entry", "id", "incident_id", "exam_number", "ground", "ground_text", "source", "sitting",
        "actor_id", "actor_role", "occurred_at_beijing", "recorded_at_beijing", "outcome", "effect",
        "supersedes", "automatic", "text", "evidence_refs",
    ]

    public static func csv(_ log: [LogEntry], grounds: (String) -> Ground?) -> String {
        var out = "\u{FEFF}" + row(header)
        for entry in log {
            switch entry {
            case .incident(let i):
                out += row([
                    String(i.seq), "incident", i.id, i.id, i.examNumber, String(i.ground.rawValue), i.ground.chinese,
                    i.source.rawValue, i.sitting?.rawValue ?? "", safe(i.reporter.id), i.reporter.role.rawValue,
                    BeijingTime.short(i.occurredAt), BeijingTime.short(i.reportedAt), "", "", "", "",
                    safe(i.evidence.text), safe(i.evidence.references.joined(separator: " | ")),
                ])
            case .decision(let d):
                let g = grounds(d.incidentID)
                out += row([
                    String(d.seq), d.isReversal ? "reversal" : "decision", d.id, d.incidentID, d.examNumber,
                    g.map { String($0.rawValue) } ?? "", g?.chinese ?? "", "", "", safe(d.decidedBy.id),
                    d.decidedBy.role.rawValue, "", BeijingTime.short(d.decidedAt), d.outcome.rawValue,
                    d.effect.rawValue, d.supersedes ?? "", d.automatic ? "yes" : "no", safe(d.reason), "",
                ])
            }
        }
        return out
    }

    /// One RFC 4180 record: a field holding a comma, a quote, CR or LF is
    /// quoted, quotes doubled; CRLF ends the record.
    static func row(_ fields: [String]) -> String {
        fields.map(quote).joined(separator: ",") + "\r\n"
    }

    static func quote(_ f: String) -> String {
        guard f.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) else { return f }
        return "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Masks ID-like digit runs and defuses formulas in text people typed.
    static func safe(_ text: String) -> String {
        let masked = maskIDNumbers(text)
        if let first = masked.first, "=+-@".contains(first) { return "'" + masked }
        return masked
    }

    /// Every run of 15+ ASCII digits, with an optional final X, masked.
    static func maskIDNumbers(_ text: String) -> String {
        var out = ""
        var run = ""
        func flush() {
            out += run.count >= 15 ? ResidentID.mask(run) : run
            run = ""
        }
        for ch in text {
            if ch.isASCII && ch.isNumber {
                run.append(ch)
            } else if (ch == "X" || ch == "x") && run.count >= 14 {
                run.append(ch)
                flush()
            } else {
                flush()
                out.append(ch)
            }
        }
        flush()
        return out
    }
}

extension DisciplineState {
    /// The log as CSV text (see `LogExport`). Write it as UTF-8
    /// (`exportCSVData()`); the BOM is its first character.
    public func exportCSV() -> String {
        LogExport.csv(log, grounds: { incidents[$0]?.ground })
    }

    public func exportCSVData() -> Data { Data(exportCSV().utf8) }
}
