import Bus
import DemoKit
import ExamContracts
import ExamDay
import ExamPlan
import Foundation
import ServiceKit
import TestSupport
import Testing

/// One row of the published total list, as the JSON export has it.
struct PublishedRow: Equatable, CustomStringConvertible {
    var post: String, exam: String, name: String, maskedID: String
    var written: String, interview: String?, total: String?, rank: Int?, remark: String
    var description: String { "\(post) \(exam) w=\(written) i=\(interview ?? "-") t=\(total ?? "-") r=\(rank.map(String.init) ?? "-") \(remark)" }
}

/// The lists the script must produce, computed here from the roster, the
/// script and the rules, without the services (R50-R54).
func expectedLists(_ roster: DemoRoster, _ script: ExamDayScript, _ plan: ExamPlan) -> (totals: [PublishedRow], physical: [String]) {
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
func publishedRows(_ data: Data) throws -> (totals: [PublishedRow], physical: [String]) {
    let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let totals = try #require(doc["total_scores"] as? [[String: Any]])
    let physical = try #require(doc["physical_exam"] as? [[String: Any]])
    return (totals.map { r in
        PublishedRow(post: r["post_code"] as? String ?? "", exam: r["exam_number"] as? String ?? "", name: r["name"] as? String ?? "",
                     maskedID: r["masked_id"] as? String ?? "", written: r["written_score"] as? String ?? "",
                     interview: r["interview_score"] as? String, total: r["total_score"] as? String,
                     rank: r["rank"] as? Int, remark: r["remark"] as? String ?? "")
    }, physical.map { $0["exam_number"] as? String ?? "" })
}

/// Runs the demo day through the real processes; `crash` kills a service
/// with SIGKILL and restarts it at each milestone.
func runExamDay(tag: String, crash: [String: String], logLevel: String? = nil) async throws
    -> (rows: [PublishedRow], physical: [String], expected: (totals: [PublishedRow], physical: [String]), csv: Data,
        texts: [(file: String, text: String)], people: DemoRoster) {
    let h = try MeshHarness(tag: tag, services: MeshConfig.serviceNames)
    let people = DemoRoster(count: 16, seed: 20221117)
    let roomSize = 4, phase = 3
    let c0 = 10, c1 = c0 + 16, m0 = c1 + 2, m1 = m0 + 8
    let sitting = roomSize * (2 * phase + 3) + 15
    let f0 = m1 + sitting, f1 = f0 + 8
    let planPath = h.dir + "/plan.json", devicesConfig = h.dir + "/devices.json"
    try Data(people.planJSON(roomSize: roomSize, confirmation: ("+\(c0)s", "+\(c1)s"), mockEntry: ("+\(m0)s", "+\(m1)s"),
                             formalEntry: ("+\(f0)s", "+\(f1)s"), publication: "+1h", readingSeconds: phase,
                             answeringSeconds: phase).utf8).write(to: URL(fileURLWithPath: planPath))
    try Data(#"{ "loss_timeout_seconds": 2, "long_outage_seconds": 6, "max_interruptions": 3 }"#.utf8)
        .write(to: URL(fileURLWithPath: devicesConfig))
    let level = logLevel.map { ["--log-level", $0] } ?? []
    let args: [String: [String]] = ["timing": ["--plan", planPath] + level, "roster": ["--scrypt-n", "1024"] + level,
                                    "devices": ["--config", devicesConfig] + level, "discipline": level, "scoring": level]
    try await h.launcher.start(MeshConfig.serviceNames.map { MeshLauncher.Spec(name: $0, arguments: args[$0]!) })
    let script = ExamDayScript.demo(people, roomSize: roomSize, lossTimeout: 2)
    let restarts = Task<Void, Never> {}
    _ = restarts
    let day = ExamDayRun(mesh: h.tools, roster: people, script: script, outputDir: h.dir + "/published", launcher: h.launcher, say: { _ in }) { milestone in
        guard let service = crash[milestone] else { return }
        Task {
            h.launcher.signal(service, SIGKILL)
            _ = await h.launcher.waitExit(service, timeout: .seconds(10))
            do { try await h.launcher.start(MeshLauncher.Spec(name: service, arguments: args[service]!)) } catch {
                Issue.record("\(service) did not come back: \(error)")
            }
        }
    }
    let outcome: ExamDayOutcome
    do {
        outcome = try await day.run()
    } catch {
        for s in MeshConfig.serviceNames { print("--- \(s)\n\(h.log(s))") }
        await h.shutdown()
        throw error
    }
    let plan = try await Staff(mesh: h.tools).plan()
    let json = try #require(outcome.files.first { $0.hasSuffix(".json") && $0.contains("total-scores") })
    let published = try publishedRows(try Data(contentsOf: URL(fileURLWithPath: json)))
    let csvPath = try #require(outcome.files.first { $0.hasSuffix(".csv") && $0.contains("total-scores") })
    let csv = try Data(contentsOf: URL(fileURLWithPath: csvPath))
    await h.shutdown()
    // Every log line and every public export, for the secrets check.
    let logs = ((try? FileManager.default.contentsOfDirectory(atPath: h.launcher.logDir)) ?? []).map { (h.launcher.logDir as NSString).appendingPathComponent($0) }
    let texts = (logs + outcome.files).compactMap { f in
        (try? Data(contentsOf: URL(fileURLWithPath: f))).map { (file: f, text: String(decoding: $0, as: UTF8.self)) }
    }
    return (published.totals, published.physical, expectedLists(people, script, plan), csv, texts, people)
}

func differences(_ got: [PublishedRow], _ want: [PublishedRow]) -> String {
    "\n" + zip(got, want).filter { $0 != $1 }.map { "got  \($0)\nwant \($1)" }.joined(separator: "\n")
        + (got.count != want.count ? "\n\(got.count) rows, expected \(want.count)" : "")
}

@Suite("the exam day through real processes (R1-R55)", .serialized)
struct ExamDayTests {
    @Test func theDayPublishesTheListsTheScriptImplies() async throws {
        // At trace level: the most the services ever write (issue 16).
        let r = try await runExamDay(tag: "day", crash: [:], logLevel: "trace")
        #expect(r.rows == r.expected.totals, Comment(rawValue: differences(r.rows, r.expected.totals)))
        #expect(r.physical.sorted() == r.expected.physical.sorted())
        // Public lists mask the ID number (first 6, last 4) and open in Excel.
        #expect(Array(r.csv.prefix(3)) == [0xEF, 0xBB, 0xBF])
        let text = String(decoding: r.csv.dropFirst(3), as: UTF8.self)
        #expect(text.hasPrefix("岗位代码,岗位名称,准考证号,姓名,身份证号"))
        #expect(text.contains("\r\n"))
        for row in r.rows { #expect(row.maskedID.contains("********")) }

        // Secrets in logs (issue 16, R63): no full ID number, no password
        // (the default one is the ID's last six digits), no session token
        // (32 random bytes, base64url: 43 characters) in any log line of the
        // services and phone-sim or in any public export.
        let token = try NSRegularExpression(pattern: "(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
        #expect(r.texts.count >= 6, "logs and exports found: \(r.texts.map(\.file))")
        #expect(r.texts.contains { $0.text.contains(" call ") || $0.text.contains("\"call\"") } || r.texts.contains { $0.text.contains("debug") },
                "the services wrote at trace level")
        for (file, text) in r.texts {
            // A password would stand beside the word (a six-digit number
            // elsewhere, a count or a time, is no secret).
            let passwordLines = text.split(separator: "\n").filter { $0.lowercased().contains("password") }
            for c in r.people.candidates {
                #expect(!text.contains(c.idNumber), "\(file) holds \(c.examNumber)'s full ID number")
                let password = try NSRegularExpression(pattern: "(?<![0-9])\(c.defaultPassword)(?![0-9])")
                for line in passwordLines {
                    let l = String(line)
                    #expect(password.firstMatch(in: l, range: NSRange(l.startIndex..., in: l)) == nil,
                            "\(file) holds \(c.examNumber)'s default password: \(l.prefix(200))")
                }
            }
            let found = token.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range, in: text)!]) }
            #expect(found == nil, "\(file) holds what looks like a session token: \(found ?? "")")
        }
    }

    @Test func aServiceKilledAndRestartedInEachPhaseChangesNothingPublished() async throws {
        let r = try await runExamDay(tag: "crash", crash: [
            "confirmation.opened": "roster",
            "mock.closed": "timing",
            "formal.opened": "devices",
            "formal.closed": "discipline",
            "scores.started": "scoring",
        ])
        #expect(r.rows == r.expected.totals, Comment(rawValue: differences(r.rows, r.expected.totals)))
        #expect(r.physical.sorted() == r.expected.physical.sorted())
    }
}
