import Bus
import ExamContracts
import ExamDay
import Testing

/// The proctor board as a pure function of events (issue 8): no sockets.
@Suite struct ProctorBoardTests {
    let t0: Int64 = 1_669_600_000_000   // any server time; the board only subtracts
    var seqs: [String: UInt64] = [:]

    mutating func event<M: ProtoMessage>(_ topic: String, _ m: M, at ms: Int64 = 0) throws -> DeliveredEvent {
        let publisher = String(topic.prefix { $0 != "." })
        seqs[publisher, default: 0] += 1
        return DeliveredEvent(header: EventHeaderFields(topic: topic, publisher: publisher, stream: "s", seq: seqs[publisher]!,
                                                         serverTimeMs: t0 + ms, payloadType: M.protoName),
                              payload: try ProtoCodec.encode(m))
    }

    func row(_ lines: [String], _ exam: String) -> String { lines.first { $0.contains(exam) } ?? "(no row for \(exam))" }

    mutating func planned() throws -> ProctorBoard {
        var board = ProctorBoard(sitting: .formal)
        var plan = ExamPlanInfo()
        plan.exam = "demo exam"
        var room = PlanRoom()
        room.id = "R01"; room.name = "第1考场"; room.candidates = ["A1", "A2", "A3"]
        plan.rooms = [room]
        var w = PlanWindow(); w.opensMs = t0; w.closesMs = t0 + 60_000
        plan.formalEntry = w
        board.apply(try event("timing.plan.published", plan))
        for (n, status) in [("A1", CandidateStatus.confirmed), ("A2", .confirmed), ("A3", .declined)] {
            var c = CandidateEvent(); c.examNumber = n; c.name = "name \(n)"; c.status = status
            board.apply(try event("roster.candidate.\(status == .declined ? "declined" : "confirmed")", c))
        }
        return board
    }

    @Test mutating func countdownShowsTheTimeLeftOnTheServersClock() throws {
        var board = try planned()
        var i = InterviewEvent()
        i.examNumber = "A1"; i.roomId = "R01"; i.sitting = .formal
        i.startedAtMs = t0 + 70_000; i.readingEndsAtMs = t0 + 370_000; i.endsAtMs = t0 + 670_000
        board.apply(try event("timing.interview.started", i))
        let lines = board.render(now: t0 + 100_000)
        // 670 s - 100 s = 570 s = 9:30 left, still reading (R15).
        #expect(row(lines, "A1").contains("reading 9:30 left"))
        #expect(lines.contains { $0.hasPrefix("R01") && $0.contains("▶ A1") })
        #expect(row(lines, "A3").contains("declined"))
        #expect(lines.contains { $0.contains("entry") && $0.contains("closed") })
        // Past the reading end without the answering event: still counts down.
        #expect(row(board.render(now: t0 + 400_000), "A1").contains("4:30 left"))
        board.apply(try event("timing.interview.answering", i))
        #expect(row(board.render(now: t0 + 400_000), "A1").contains("answering 4:30 left"))
        i.reason = "time_up"
        board.apply(try event("timing.interview.ended", i))
        #expect(row(board.render(now: t0 + 700_000), "A1").contains("done"))
        // Phones that go dark after the interview are off, not an alarm.
        var s = SignalEvent(); s.examNumber = "A1"; s.role = .main
        board.apply(try event("devices.signal.lost", s))
        #expect(row(board.render(now: t0 + 700_000), "A1").contains("off"))
        #expect(!row(board.render(now: t0 + 700_000), "A1").contains("LOST"))
    }

    @Test mutating func phonesAndIncidentsAppearAndClear() throws {
        var board = try planned()
        var s = SignalEvent(); s.examNumber = "A2"; s.role = .secondary
        board.apply(try event("devices.signal.connected", s))
        board.apply(try event("devices.signal.lost", s))
        var rule = RuleState(); rule.rule = "ios-wechat-8.0.20"
        var r = RuleEvent(); r.examNumber = "A2"; r.role = .main; r.rule = rule
        board.apply(try event("devices.rule.broken", r))
        var lines = board.render(now: t0)
        #expect(row(lines, "A2").contains("LOST"))
        #expect(row(lines, "A2").contains("!ios-wechat-8.0.20"))

        var ground = GroundInfo(); ground.number = 9
        var incident = IncidentView(); incident.incidentId = "I-1"; incident.examNumber = "A2"; incident.ground = ground
        var reported = IncidentEvent(); reported.incident = incident
        board.apply(try event("discipline.incident.reported", reported))
        lines = board.render(now: t0)
        #expect(row(lines, "A2").contains("I-1 ground 9"))
        #expect(lines.contains { $0.contains("open incidents: 1") })

        var decision = DecisionView(); decision.incidentId = "I-1"
        var decided = DecisionEvent(); decided.examNumber = "A2"; decided.decision = decision; decided.standing = .qualificationCancelled
        board.apply(try event("discipline.incident.decided", decided))
        board.apply(try event("devices.signal.restored", s))
        board.apply(try event("devices.rule.cleared", r))
        lines = board.render(now: t0)
        #expect(row(lines, "A2").contains("disqualified"))
        #expect(!row(lines, "A2").contains("I-1"))
        #expect(!row(lines, "A2").contains("LOST") && !row(lines, "A2").contains("!"))
        #expect(lines.contains { $0.contains("open incidents: 0") })

        // A narrow terminal: the footer wraps, every service still named.
        let narrow = board.render(now: t0, width: 40)
        #expect(narrow.allSatisfy { $0.count <= 40 })
        let footer = narrow.drop { !$0.contains("open incidents") }.joined(separator: " ")
        #expect(footer.contains("devices #") && footer.contains("discipline #"))
    }

    @Test mutating func theOtherSittingsEventsAndOddPayloadsChangeNothing() throws {
        var board = try planned()
        let before = board.render(now: t0)
        var m = CandidateMoment(); m.examNumber = "A1"; m.sitting = .mock; m.channel = .main
        board.apply(try event("timing.candidate.entered", m))
        // A payload that is not what the topic carries is counted, not read.
        var s = SignalEvent(); s.examNumber = "A1"
        board.apply(try event("timing.interview.started", s))
        let after = board.render(now: t0)
        #expect(Array(after.dropLast()) == Array(before.dropLast()))
        #expect(after.last?.hasPrefix("\(board.events) events") == true)
    }

    @Test mutating func theDayPicksTheSittingByTheFormalEntry() throws {
        let board = try planned()
        #expect(ProctorBoard.sittingOfTheMoment(formal: board, now: t0 - 1) == .mock)
        #expect(ProctorBoard.sittingOfTheMoment(formal: board, now: t0) == .formal)
    }
}
