@testable import ExamPlan
import Foundation
import Testing

let noticePlanJSON = """
{ "exam": "2022 市南区社区专职工作者公开招聘面试",
  "confirmation": { "opens": "2022-11-17 09:00", "closes": "2022-11-17 16:00" },
  "mock":   { "entry_opens": "2022-11-18 08:50", "entry_closes": "2022-11-18 09:00" },
  "formal": { "entry_opens": "2022-11-19 11:00", "entry_closes": "2022-11-19 11:10" },
  "publication": "2022-11-21 09:00",
  "interview": { "reading_seconds": 300, "answering_seconds": 300, "answering_turn": "staff" },
  "rooms": [
    { "id": "R01", "name": "第一考场", "panel": [ { "id": "E01", "name": "王", "chief": true }, { "id": "E02" }, { "id": "E03" } ],
      "candidates": [ "2022110001", "2022110002" ], "proctors": [ "P01" ] },
    { "id": "R02", "panel": [ { "id": "E11", "chief": true }, { "id": "E12" }, { "id": "E13" } ],
      "candidates": [ "2022110003" ] } ] }
"""

func plan(_ json: String, anchor: Date = Date()) throws -> ExamPlan {
    try PlanFile.parse(Data(json.utf8), anchor: anchor)
}

func problems(_ json: String) -> [String] {
    do { _ = try plan(json); return [] } catch let e as PlanError { return e.problems } catch { return ["\(error)"] }
}

@Suite("exam plan (R10)")
struct ExamPlanTests {
    @Test func theNoticePlanLoadsInBeijingTime() throws {
        let p = try plan(noticePlanJSON)
        #expect(BeijingTime.iso(p.formalEntry.opens) == "2022-11-19T11:00:00.000+08:00")
        // 11:00 Beijing is 03:00 UTC.
        #expect(p.formalEntry.opens.timeIntervalSince1970 == 1_668_826_800)
        #expect(p.interview == InterviewDurations(readingSeconds: 300, answeringSeconds: 300, answeringTurn: .staff))
        #expect(p.room(of: "2022110003")?.id == "R02")
        #expect(p.rooms[1].name == "R02")
        #expect(p.rooms[1].panel[1].chief == false)
    }

    @Test func entryWindowEdges() throws {
        let w = try plan(noticePlanJSON).formalEntry
        #expect(w.contains(try #require(BeijingTime.parse("2022-11-19T11:09:59.999+08:00"))))
        #expect(!w.contains(try #require(BeijingTime.parse("2022-11-19T11:10:00+08:00"))))
        #expect(w.contains(try #require(BeijingTime.parse("2022-11-19 11:00"))))
        #expect(!w.contains(try #require(BeijingTime.parse("2022-11-19T10:59:59.999+08:00"))))
    }

    @Test func relativeTimesAreAnchoredOnce() throws {
        let json = noticePlanJSON
            .replacingOccurrences(of: "\"2022-11-17 09:00\"", with: "\"+0s\"")
            .replacingOccurrences(of: "\"2022-11-17 16:00\"", with: "\"+60s\"")
            .replacingOccurrences(of: "\"2022-11-18 08:50\"", with: "\"+70s\"")
            .replacingOccurrences(of: "\"2022-11-18 09:00\"", with: "\"+2m\"")
            .replacingOccurrences(of: "\"2022-11-19 11:00\"", with: "\"+3m\"")
            .replacingOccurrences(of: "\"2022-11-19 11:10\"", with: "\"+4m\"")
            .replacingOccurrences(of: "\"2022-11-21 09:00\"", with: "\"+1h\"")
        let anchor = Date(timeIntervalSince1970: 1_700_000_000)
        let p = try plan(json, anchor: anchor)
        #expect(p.confirmation.closes == anchor.addingTimeInterval(60))
        #expect(p.formalEntry.opens == anchor.addingTimeInterval(180))
        #expect(p.publication == anchor.addingTimeInterval(3600))
    }

    @Test func overlappingWindowsAreRefused() {
        let p = problems(noticePlanJSON.replacingOccurrences(of: "\"2022-11-18 08:50\"", with: "\"2022-11-17 15:00\""))
        #expect(p.contains { $0.hasPrefix("mock.entry:") && $0.contains("overlaps confirmation") })
    }

    @Test func endBeforeStartIsRefused() {
        let p = problems(noticePlanJSON.replacingOccurrences(of: "\"2022-11-19 11:10\"", with: "\"2022-11-19 10:50\""))
        #expect(p.contains { $0.hasPrefix("formal.entry: closes at 2022-11-19 10:50:00, not after it opens") })
    }

    @Test func everyProblemIsListedWithWhere() {
        let bad = """
        { "exam": "x",
          "confirmation": { "opens": "2022-11-17 09:00", "closes": "2022-11-17 08:00" },
          "mock":   { "entry_opens": "2022-11-18 08:50", "entry_closes": "2022-11-18 09:00" },
          "formal": { "entry_opens": "2022-11-19 11:00", "entry_closes": "2022-11-19 11:10" },
          "publication": "2022-11-21 09:00",
          "rooms": [
            { "id": "R01", "panel": [], "candidates": [ "A1" ] },
            { "id": "R02", "panel": [ { "id": "E1", "chief": true } ], "candidates": [ "A1", "A2" ] } ] }
        """
        let p = problems(bad)
        #expect(p.contains { $0.hasPrefix("confirmation: closes") })
        #expect(p.contains { $0 == "rooms[0] (R01).panel: a room needs an examiner panel" })
        #expect(p.contains { $0 == "rooms[1] (R02).candidates: A1 is also in room R01" })
        #expect(p.count == 3)
    }

    /// Issue 16 (fuzzing): 35 digits of fractional seconds killed the
    /// process inside ICU (SIGFPE); such a time is now simply not a time.
    @Test func longDigitRunsAreNotTimesAndDoNotCrash() {
        let long = "2022-11-21T01:00:00." + String(repeating: "5", count: 40) + "Z"
        #expect(BeijingTime.parse(long) == nil)
        #expect(BeijingTime.parse("2022-11-21T01:00:00.123456789Z") != nil)
        #expect(BeijingTime.parse("20222222222-11-19 11:00") == nil)
        #expect(BeijingTime.parse("2022-11-21T01:00:00.000Z") != nil)
    }

    /// Issue 16 (fuzzing): an infinite or huge relative time was accepted
    /// and trapped (Double to Int64) when the plan's times were shown.
    @Test func timesOutOfRangeAreNotTimes() {
        let anchor = Date(timeIntervalSince1970: 1_668_560_400)
        #expect(PlanFile.parseTime("+31e308m", anchor: anchor) == nil)
        #expect(PlanFile.parseTime("+1e300h", anchor: anchor) == nil)
        #expect(PlanFile.parseTime("+90s", anchor: anchor) == anchor.addingTimeInterval(90))
        #expect(PlanFile.parseTime("999999999-11-19 11:00", anchor: anchor) == nil)
    }

    @Test func unreadableTimesAndMissingFieldsSayWhere() {
        #expect(problems(noticePlanJSON.replacingOccurrences(of: "\"2022-11-21 09:00\"", with: "\"next monday\"")).first?.hasPrefix("publication: 'next monday' is not a time") == true)
        #expect(problems("{ \"exam\": \"x\" }").first?.contains("confirmation is missing") == true)
        #expect(problems("not json").first?.contains("not valid JSON") == true)
    }
}

@Suite("resident ID (GB 11643-1999)")
struct ResidentIDTests {
    // 11010519491231002X is the standard's own example.
    @Test func acceptsValidNumbersWithXInEitherCase() throws {
        #expect(try ResidentID("11010519491231002X").value == "11010519491231002X")
        #expect(try ResidentID("11010519491231002x").value == "11010519491231002X")
        #expect(try ResidentID("11010519491231002X").lastSix == "31002X")
        #expect(try ResidentID("11010519491231002X").masked == "110105********002X")
    }

    @Test func refusesWrongChecksumLengthCharactersAndImpossibleDates() {
        #expect(throws: ResidentID.Problem.checksum(expected: "X", found: "3")) { try ResidentID("110105194912310023") }
        #expect(throws: ResidentID.Problem.length(17)) { try ResidentID("11010519491231002") }
        #expect(throws: ResidentID.Problem.characters) { try ResidentID("1101051949123100AX") }
        // 1990-02-30 does not exist; its check character is right for the digits.
        var digits = Array("11010519900230002").map { Int(String($0))! }
        let w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
        let check = Array("10X98765432")[zip(digits, w).reduce(0) { $0 + $1.0 * $1.1 } % 11]
        digits.removeAll()
        #expect(throws: ResidentID.Problem.birthDate("19900230")) { try ResidentID("11010519900230002" + String(check)) }
    }
}

@Suite("points (exact decimals, R51)")
struct PointsTests {
    @Test func parsesAtMostTwoDecimals() throws {
        #expect(try Points("87").hundredths == 8700)
        #expect(try Points("87.5").hundredths == 8750)
        #expect(try Points("87.05").description == "87.05")
        #expect(throws: Points.Problem.tooManyDecimals("100.001")) { try Points("100.001") }
        #expect(throws: Points.Problem.notANumber("abc")) { try Points("abc") }
        #expect(throws: Points.Problem.notANumber("1e2")) { try Points("1e2") }
        #expect(throws: Points.Problem.notANumber("")) { try Points("") }
        #expect(throws: Points.Problem.notANumber("87.")) { try Points("87.") }
        #expect(throws: Points.Problem.outOfRange("-1", Points.zero, try Points("100"))) { try Points("-1", in: Points.zero...(try Points("100"))) }
    }

    @Test func divisionRoundsHalfUpExactly() {
        #expect(Points.divide(25, by: 10) == 3)       // 2.5 -> 3
        #expect(Points.divide(24, by: 10) == 2)
        #expect(Points.divide(-25, by: 10) == -3)     // away from zero
        // (85.25 + 85.26) / 2 = 85.255 -> 85.26
        #expect(Points.mean([Points(hundredths: 8525), Points(hundredths: 8526)]).description == "85.26")
        #expect(Points.mean([Points(hundredths: 1), Points(hundredths: 1), Points(hundredths: 2)]).hundredths == 1)
    }
}

@Suite("shipped plans")
struct ShippedPlanTests {
    var root: String {
        var url = URL(fileURLWithPath: #filePath)
        while url.pathComponents.count > 1 {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return "."
    }

    /// The notice's real plan (R10): its dates, windows and 5+5 minutes.
    @Test func theNoticePlanFileLoadsAndValidates() throws {
        let p = try PlanFile.load(path: root + "/compose/plans/notice-2022.json", anchor: Date())
        #expect(BeijingTime.short(p.confirmation.opens) == "2022-11-17 09:00:00")
        #expect(BeijingTime.short(p.confirmation.closes) == "2022-11-17 16:00:00")
        #expect(BeijingTime.short(p.mockEntry.opens) == "2022-11-18 08:50:00")
        #expect(BeijingTime.short(p.mockEntry.closes) == "2022-11-18 09:00:00")
        #expect(BeijingTime.short(p.formalEntry.opens) == "2022-11-19 11:00:00")
        #expect(BeijingTime.short(p.formalEntry.closes) == "2022-11-19 11:10:00")
        #expect(p.interview.readingSeconds == 300 && p.interview.answeringSeconds == 300)
        #expect(p.interview.answeringTurn == .staff)
    }

    @Test func theDemoPlanIsRelativeAndValid() throws {
        let anchor = Date()
        let data = try #require(FileManager.default.contents(atPath: root + "/compose/plans/demo.json"))
        let p = try PlanFile.parse(data, anchor: anchor)
        // Relative to the moment timing first loads it: confirmation opens
        // soon after (time to import the list first), the day ends within 10 minutes.
        let lead = p.confirmation.opens.timeIntervalSince(anchor)
        #expect(lead >= 0 && lead <= 60, "confirmation opens \(lead) s after the start")
        #expect(p.formalEntry.closes.timeIntervalSince(anchor) < 600)
    }
}
