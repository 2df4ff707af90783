import ExamPlan
import Foundation

/// Exports of the public lists (R55): CSV that Excel opens correctly and
/// JSON. Only masked ID numbers exist in scoring, so none can leak.
public enum ScoringExport {
    /// UTF-8 byte order mark: without it Excel reads a CSV as the local
    /// ANSI code page (GBK on Chinese Windows) and garbles the names.
    public static let bom = Data([0xEF, 0xBB, 0xBF])

    public static let totalScoresHeader = ["岗位代码", "岗位名称", "准考证号", "姓名", "身份证号", "笔试成绩", "面试成绩", "总成绩", "岗位排名", "备注"]
    public static let physicalExamHeader = ["岗位代码", "岗位名称", "岗位排名", "准考证号", "姓名", "身份证号", "笔试成绩", "面试成绩", "总成绩"]

    /// 进入面试人员总成绩: every candidate, by post, rank, then the unranked.
    public static func totalScoresCSV(_ lists: PublicLists) -> Data {
        csv(totalScoresHeader, lists.totalScores.map { r in
            [r.postCode, text(r.postName), r.examNumber, text(r.name), r.maskedID, r.writtenScore.description,
             r.interviewScore?.description ?? "", r.totalScore?.description ?? "", r.rank.map(String.init) ?? "", text(r.remark)]
        })
    }

    /// 进入体检人员名单.
    public static func physicalExamCSV(_ lists: PublicLists) -> Data {
        csv(physicalExamHeader, lists.physicalExam.map { r in
            [r.postCode, text(r.postName), String(r.rank), r.examNumber, text(r.name), r.maskedID, r.writtenScore.description,
             r.interviewScore.description, r.totalScore.description]
        })
    }

    /// UTF-8 with BOM, CRLF after every record (RFC 4180).
    static func csv(_ header: [String], _ rows: [[String]]) -> Data {
        var out = ([header] + rows).map { $0.map(field).joined(separator: ",") + "\r\n" }.joined()
        if out.isEmpty { out = "\r\n" }
        return bom + Data(out.utf8)
    }

    /// RFC 4180: a field with a comma, quote, CR or LF (or leading/trailing
    /// spaces, which Excel would drop) is quoted, its quotes doubled.
    public static func field(_ s: String) -> String {
        let needs = s.unicodeScalars.contains { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }
            || s.first == " " || s.last == " "
        return needs ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// Free text (names, post names, remarks) that Excel would run as a
    /// formula (= + - @ at the start; OWASP "CSV injection") gets a leading
    /// apostrophe. Identifiers and scores never start that way.
    public static func text(_ s: String) -> String {
        guard let f = s.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(f) else { return s }
        return "'" + s
    }

    /// The JSON document of a publication: snake_case keys, scores as
    /// strings "87.50", times in Beijing time, the draw seed as a decimal
    /// string (a UInt64 does not survive JavaScript's numbers).
    public struct Document: Codable, Sendable, Equatable {
        public struct Draw: Codable, Sendable, Equatable {
            public var postCode: String
            public var tied: [String]
            public var order: [String]
        }

        public var exam: String
        public var version: Int
        public var publishedAt: String
        public var reason: String?
        public var drawSeed: String
        public var drawMethod: String
        public var totalScores: [TotalScoreRow]
        public var physicalExam: [PhysicalExamRow]
        public var draws: [Draw]
        /// R38: recordings incomplete at publication (a warning).
        public var recordingsWarning: String?

        public init(_ p: Publication) {
            exam = p.exam
            version = p.version
            publishedAt = BeijingTime.iso(p.publishedAt)
            reason = p.reason
            drawSeed = String(p.drawSeed)
            drawMethod = "SplitMix64 seeded with draw_seed XOR FNV-1a-64(post_code + \"\\n\" + tied exam numbers sorted ascending, joined by \"\\n\"); Fisher-Yates from the last position, j = uniform below i+1 by rejection; best rank first"
            totalScores = p.lists.totalScores
            physicalExam = p.lists.physicalExam
            draws = p.lists.draws.map { Draw(postCode: $0.postCode, tied: $0.tied, order: $0.order) }
            recordingsWarning = p.recordingsWarning
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(exam, forKey: .exam)
            try c.encode(version, forKey: .version)
            try c.encode(publishedAt, forKey: .publishedAt)
            try c.encode(reason, forKey: .reason)
            try c.encode(drawSeed, forKey: .drawSeed)
            try c.encode(drawMethod, forKey: .drawMethod)
            try c.encode(totalScores, forKey: .totalScores)
            try c.encode(physicalExam, forKey: .physicalExam)
            try c.encode(draws, forKey: .draws)
            try c.encodeIfPresent(recordingsWarning, forKey: .recordingsWarning)
        }
    }

    public static func json(_ publication: Publication) throws -> Data {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(Document(publication))
    }
}
