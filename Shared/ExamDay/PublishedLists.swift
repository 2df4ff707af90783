import DemoKit
import ExamPlan
import Foundation

/// One row of the published total list, as the JSON export has it.
public struct PublishedRow: Sendable, Equatable, CustomStringConvertible {
    public var post: String, exam: String, name: String, maskedID: String
    public var written: String, interview: String?, total: String?, rank: Int?, remark: String
    public var description: String { "\(post) \(exam) w=\(written) i=\(interview ?? "-") t=\(total ?? "-") r=\(rank.map(String.init) ?? "-") \(remark)" }
}

/// The lists the script must produce, computed here from the roster, the
/// script and the rules, without the services (R50-R54).
public func expectedLists(_ roster: DemoRoster, _ script: ExamDayScript, _ plan: ExamPlan) -> (totals: [PublishedRow], physical: [String]) {
    var rows: [PublishedRow] = []
    var physical: [String] = []
    for post in Set(roster.candidates.map(\.postCode)).sorted() {
        let people = roster.candidates.filter { $0.postCode == post }
        var ranked: [(c: DemoCandidate, interview: Int64, total: Int64, written: Int64)] = []
        var unranked: [PublishedRow] = []
        for c in people {
            let written = try! Points(c.writtenScore).hundredths
            func out(_ remark: String) {
                unranked.append(PublishedRow(post: post, exam: c.examNumber, name: c.name, maskedID: ResidentID.mask(c.idNumber),
                                             written: c.writtenScore, interview: nil, total: nil, rank: nil, remark: remark))
            }
            if script.decline.contains(c.examNumber) { out("放弃面试"); continue }
            if script.forget.contains(c.examNumber) { out("未确认，视为放弃"); continue }
            if script.absentFormal.contains(c.examNumber) { out("缺考"); continue }
            if script.failScreening.contains(c.examNumber) { out("取消面试资格"); continue }
            if script.bothPhonesLost.contains(c.examNumber) { out("面试成绩无效"); continue }
            // Seven examiners: drop the highest and the lowest, mean of five, half up (R50).
            let panel = plan.room(of: c.examNumber)!.panel
            let scores = panel.map { try! Points(ExamDayScript.score(c.examNumber, $0.id)).hundredths }.sorted()
            let kept = scores.dropFirst().dropLast()
            let interview = Points.divide(kept.reduce(0, +), by: Int64(kept.count))
            // 50/50, one rounding at the end, half up (R51).
            let total = Points.divide(written * 50 + interview * 50, by: 100)
            ranked.append((c, interview, total, written))
        }
        // By total, then the higher written score (R53).
        ranked.sort { ($0.total, $0.written) > ($1.total, $1.written) }
        let places = people.first!.places
        for (i, r) in ranked.enumerated() {
            let onList = i < places
            if onList { physical.append(r.c.examNumber) }
            rows.append(PublishedRow(post: post, exam: r.c.examNumber, name: r.c.name, maskedID: ResidentID.mask(r.c.idNumber),
                                     written: r.c.writtenScore, interview: Points(hundredths: r.interview).description,
                                     total: Points(hundredths: r.total).description, rank: i + 1, remark: onList ? "进入体检" : ""))
        }
        rows += unranked
    }
    return (rows, physical)
}

/// Reads the published JSON export (total list).
public func publishedRows(_ data: Data) throws -> (totals: [PublishedRow], physical: [String]) {
    guard let doc = try JSONSerialization.jsonObject(with: data) as? [String: Any],
          let totals = doc["total_scores"] as? [[String: Any]], let physical = doc["physical_exam"] as? [[String: Any]] else {
        throw ExamDayError("the published JSON has no total_scores and physical_exam lists")
    }
    return (totals.map { r in
        PublishedRow(post: r["post_code"] as? String ?? "", exam: r["exam_number"] as? String ?? "", name: r["name"] as? String ?? "",
                     maskedID: r["masked_id"] as? String ?? "", written: r["written_score"] as? String ?? "",
                     interview: r["interview_score"] as? String, total: r["total_score"] as? String,
                     rank: r["rank"] as? Int, remark: r["remark"] as? String ?? "")
    }, physical.map { $0["exam_number"] as? String ?? "" })
}

public func differences(_ got: [PublishedRow], _ want: [PublishedRow]) -> String {
    "\n" + zip(got, want).filter { $0 != $1 }.map { "got  \($0)\nwant \($1)" }.joined(separator: "\n")
        + (got.count != want.count ? "\n\(got.count) rows, expected \(want.count)" : "")
}


/// The recordings outcome the script implies (R38), computed here without
/// the services: every interview held has two recordings; the phones'
/// outages longer than recordings' --max-gap (both phones lost, the
/// secondary's drop, the call on the main phone) leave a gap during the
/// signal loss, and the scripted unfinished upload lacks its final chunk.
/// Descriptions as `RecordingOutcome` words them, without the gap's length.
public func expectedRecordings(_ roster: DemoRoster, _ script: ExamDayScript) -> [String] {
    var out: [String] = []
    let confirmed = roster.candidates.map(\.examNumber).filter { !script.decline.contains($0) && !script.forget.contains($0) }
    for e in confirmed where !script.skipMock.contains(e) {
        out += ["\(e) mock main", "\(e) mock secondary"]
    }
    for e in confirmed where !script.absentFormal.contains(e) && !script.failScreening.contains(e) {
        let mainGap = script.bothPhonesLost.contains(e) || script.incomingCall.contains(e)
        let secondaryGap = script.bothPhonesLost.contains(e) || script.droppedOnce.contains(e)
        out.append("\(e) formal main" + (mainGap ? " (gap, signal lost)" : ""))
        out.append("\(e) formal secondary" + (secondaryGap ? " (gap, signal lost)" : script.unfinishedRecording.contains(e) ? " (unfinished)" : ""))
    }
    return out.sorted()
}

extension RecordingOutcome {
    /// As `expectedRecordings` words it: the problems, not the gap's length.
    public var shape: String {
        let why = problems.map { $0 == "gap" ? "gap, \(duringSignalLoss ? "signal lost" : "no signal-loss")" : $0 }
        return "\(examNumber) \(sitting) \(role)" + (why.isEmpty ? "" : " (\(why.joined(separator: "; ")))")
    }
}
