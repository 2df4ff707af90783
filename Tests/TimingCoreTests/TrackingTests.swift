import ExamPlan
import Foundation
import Testing
@testable import TimingCore

// Issue 15: timing's cost per call does not grow with the roster. The state
// names the documents each call wrote (no diff of the whole state), rolls a
// refused call back from a journal (no copy), and keeps pending timers in an
// index (no scan). Each is checked here against the old whole-state way,
// kept as the oracle: `changes(since:)`, `pendingTransitionsByScan()`,
// `tickByScan(now:seed:)`.

/// Runs `body` and checks that the changed keys are exactly the documents
/// the whole-state diff finds; returns the events.
@discardableResult
func tracked(_ s: inout TimingState, sourceLocation: SourceLocation = #_sourceLocation,
             _ body: (inout TimingState) throws -> [TimingEvent]) throws -> [TimingEvent] {
    _ = s.takeChanges()
    let before = s
    let events = try body(&s)
    #expect(s.changedDocuments == s.changes(since: before), sourceLocation: sourceLocation)
    #expect(s.takeChanges() == s.changes(since: before), sourceLocation: sourceLocation)
    #expect(s.changedDocuments.isEmpty, sourceLocation: sourceLocation)
    expectIndexMatchesScan(s, sourceLocation: sourceLocation)
    return events
}

func expectIndexMatchesScan(_ s: TimingState, sourceLocation: SourceLocation = #_sourceLocation) {
    let index = s.pendingTransitions(), scan = s.pendingTransitionsByScan()
    #expect(index.map(\.due) == scan.map(\.due), sourceLocation: sourceLocation)
    #expect(index.map(\.transition) == scan.map(\.transition), sourceLocation: sourceLocation)
    #expect(s.nextDeadline() == s.nextDeadlineByScan(), sourceLocation: sourceLocation)
}

@Suite("Changed documents, rollback and the timer index (issue 15)")
struct TrackingTests {
    @Test("each kind of operation names exactly the documents it wrote")
    func changedKeysPerOperation() throws {
        var s = try TimingState(plan: noticePlan())
        #expect(s.changedDocuments.isEmpty) // a fresh state is stored whole
        for n in R01 + R02 {
            let ev = try tracked(&s) { try $0.applyRoster(examNumber: n, status: .confirmed, now: t("2022-11-17 10:00")) }
            #expect(!ev.isEmpty)
        }
        // A repeat changes nothing and names nothing.
        try tracked(&s) { try $0.applyRoster(examNumber: "2022110001", status: .confirmed, now: t("2022-11-17 10:01")) }
        try tracked(&s) { try $0.applyDisqualification(examNumber: "2022110006", incidentID: "I-1", ground: 6, now: t("2022-11-17 11:00")) }
        try tracked(&s) { try $0.applyReinstatement(examNumber: "2022110006", incidentID: "I-1", now: t("2022-11-17 12:00")) }
        try tracked(&s) { try $0.applyDeviceFitness(examNumber: "2022110005", fit: false, reasons: ["old"], now: t("2022-11-17 12:00")) }
        try tracked(&s) { try $0.applyDeviceFitness(examNumber: "2022110005", fit: true, reasons: [], now: t("2022-11-17 12:01")) }
        // The mock sitting passes unattended (opening, close: absences, draws).
        try tracked(&s) { $0.tick(now: t("2022-11-18 09:30"), seed: 5) }
        // Formal entry.
        try tracked(&s) { $0.tick(now: t("2022-11-19 11:00"), seed: 5) }
        for n in R01 {
            try tracked(&s) { try $0.enter(examNumber: n, sitting: .formal, channel: .main, deviceID: mainDevice(n), now: t("2022-11-19 11:02")) }
            try tracked(&s) { try $0.enter(examNumber: n, sitting: .formal, channel: .secondary, deviceID: secondaryDevice(n), now: t("2022-11-19 11:02")) }
        }
        try tracked(&s) { try $0.leave(examNumber: "2022110002", sitting: .formal, channel: .secondary, now: t("2022-11-19 11:03")) }
        try tracked(&s) { try $0.leave(examNumber: "2022110002", sitting: .formal, channel: .secondary, now: t("2022-11-19 11:03")) }
        try tracked(&s) { try $0.enter(examNumber: "2022110002", sitting: .formal, channel: .secondary, deviceID: "other", now: t("2022-11-19 11:04")) }
        try tracked(&s) { $0.tick(now: t("2022-11-19 11:10"), seed: formalSeed) }
        try tracked(&s) { try $0.drawOrder(roomID: "R01", sitting: .formal, seed: 99, proctor: "P01", now: t("2022-11-19 11:10:10")) }
        for n in R01 {
            try tracked(&s) {
                try $0.recordScreening(examNumber: n, sitting: .formal, identityConfirmed: n != "2022110003",
                                       checks: ScreeningCheck.allPassed, proctor: "P01", now: t("2022-11-19 11:10:30"))
            }
        }
        let order = s.rooms["formal/R01"]!.draw!.order
        var now = t("2022-11-19 11:12")
        for n in order where n != "2022110003" {
            try tracked(&s) { try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: n, proctor: "P01", now: now) }
            try tracked(&s) { try $0.revealQuestion(examNumber: n, deviceID: mainDevice(n), now: now.plus(10)) }
            try tracked(&s) { $0.tick(now: now.plus(300), seed: 1) }  // automatic turn
            if n == order.first {
                try tracked(&s) { try $0.endInterview(examNumber: n, deviceID: mainDevice(n), now: now.plus(400)) }
            } else {
                try tracked(&s) { $0.tick(now: now.plus(700), seed: 1) } // time up
            }
            now = now.plus(800)
        }
        try tracked(&s) { try $0.endRoom(roomID: "R01", sitting: .formal, proctor: "P01", now: now) }
        try tracked(&s) { try $0.endRoom(roomID: "R02", sitting: .formal, proctor: "P02", now: now) }
    }

    @Test("staff turn: the reading-time-up notice and the announcement name their documents")
    func staffTurn() throws {
        var s = try confirmedState(turn: .staff)
        let order = try formalRoomReady(&s)
        _ = s.takeChanges()
        let n = order[0]
        try tracked(&s) { try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: n, proctor: "P01", now: t("2022-11-19 11:12")) }
        try tracked(&s) { $0.tick(now: t("2022-11-19 11:17"), seed: 1) }
        #expect(s.pendingTransitions().map(\.transition) == [.countdownEnds(.formal, examNumber: n)])
        try tracked(&s) { try $0.announceAnswering(examNumber: n, proctor: "P01", now: t("2022-11-19 11:17:30")) }
        try tracked(&s) { $0.tick(now: t("2022-11-19 11:22"), seed: 1) }
        #expect(s.nextDeadline() == nil)
    }

    @Test("a refused operation leaves the state, its changed keys and its timers as they were")
    func refusalKeepsChanges() throws {
        var s = try confirmedState()
        let order = try formalRoomReady(&s)
        _ = s.takeChanges()
        // Changes not yet taken by the shell.
        _ = try s.startInterview(roomID: "R01", sitting: .formal, examNumber: order[0], proctor: "P01", now: t("2022-11-19 11:12"))
        let pending = s.changedDocuments
        #expect(pending.candidateSittings == ["formal/\(order[0])"] && pending.rooms == ["formal/R01"])
        let deadline = s.nextDeadline()
        expectRefusal(&s, .failedPrecondition) {
            try $0.startInterview(roomID: "R01", sitting: .formal, examNumber: order[1], proctor: "P01", now: t("2022-11-19 11:13"))
        }
        expectRefusal(&s, .permissionDenied) {
            try $0.endRoom(roomID: "R01", sitting: .formal, proctor: "P02", now: t("2022-11-19 11:13"))
        }
        #expect(s.changedDocuments == pending)
        #expect(s.nextDeadline() == deadline)
        expectIndexMatchesScan(s)
    }

    @Test("a body that writes and then throws is rolled back from the journal, nested ones too")
    func rollbackFromJournal() throws {
        var s = try confirmedState()
        let order = try formalRoomReady(&s)
        _ = s.takeChanges()
        s.candidates["2022110005"]!.roster = .declined   // a change not yet taken
        let before = s, changed = s.changedDocuments, timers = s.pendingTransitions().map(\.transition)
        let n = order[0], k = "formal/\(n)"
        #expect(throws: TimingError.self) {
            try s.transact { (s: inout TimingState) throws -> Void in
                var cs = s.candidateSittings[k]!
                cs.interview = InterviewRecord(startedAt: t("2022-11-19 11:12"), startedBy: "P01", readingSeconds: 300,
                                               answeringSeconds: 300, answeringTurn: .automatic)
                s.candidateSittings[k] = cs                          // adds two timers
                s.candidates["2022110005"]!.roster = .forfeited      // a key already changed
                s.candidates[n] = nil                                // a removal
                s.rooms["formal/R09"] = RoomSitting(roomID: "R09", sitting: .formal) // an addition
                s.rooms["formal/R09"]!.current = "x"                 // written twice
                throw TimingError.invalid("refused")
            }
        }
        #expect(s == before)
        #expect(s.changedDocuments == changed)
        #expect(s.pendingTransitions().map(\.transition) == timers)
        expectIndexMatchesScan(s)

        // Nested: the inner refusal is undone, the outer body's writes kept.
        try s.transact { (s: inout TimingState) throws -> Void in
            s.entries["formal"]!.openedFiredAt = t("2022-11-19 11:00:01")
            _ = try? s.transact { (s: inout TimingState) throws -> Void in
                s.rooms["formal/R02"]!.current = "2022110005"
                s.entries["mock"]!.openedFiredAt = nil
                throw TimingError.invalid("inner")
            }
            s.rooms["formal/R01"]!.current = nil
        }
        #expect(s.changes(since: before).entries == ["formal"])
        #expect(s.changes(since: before).rooms == [])
        #expect(s.changedDocuments.entries == ["formal"])
        #expect(s.changedDocuments.rooms == [])
        #expect(s.changedDocuments.candidates == ["2022110005"])
    }

    @Test("a state loaded from documents rebuilds its timer index and has nothing to write")
    func reloadRebuildsIndex() throws {
        var s = try confirmedState()
        let order = try formalRoomReady(&s)
        _ = try s.startInterview(roomID: "R01", sitting: .formal, examNumber: order[0], proctor: "P01", now: t("2022-11-19 11:12"))
        let back = TimingState(plan: s.plan, candidates: s.candidates.dictionary, candidateSittings: s.candidateSittings.dictionary,
                               rooms: s.rooms.dictionary, entries: s.entries.dictionary)
        #expect(back == s)
        #expect(back.changedDocuments.isEmpty)
        #expect(back.nextDeadline() == t("2022-11-19 11:17"))
        expectIndexMatchesScan(back)
        let decoded = try persisted(s)
        #expect(decoded.nextDeadline() == t("2022-11-19 11:17"))
        expectIndexMatchesScan(decoded)
    }

    @Test("randomized: the index agrees with the scan and tick fires as the scan would", arguments: [
        (UInt64(1), AnsweringTurn.automatic), (2, .staff), (3, .automatic), (4, .staff), (20221119, .automatic),
    ])
    func randomized(seed: UInt64, turn: AnsweringTurn) throws {
        var rng = SplitMix64(seed: seed)
        func pick<T>(_ xs: [T]) -> T { xs[Int(rng.below(UInt64(xs.count)))] }
        func chance(_ p: Double) -> Bool { Double(rng.next() >> 11) / Double(1 << 53) < p }
        let rooms = (1...4).map { r in (1...6).map { String(format: "20221%02d%03d", r, $0) } }
        let base = noticePlan(turn: turn)
        let plan = ExamPlan(exam: base.exam, confirmation: base.confirmation, mockEntry: base.mockEntry,
                            formalEntry: base.formalEntry, publication: base.publication, interview: base.interview,
                            rooms: rooms.enumerated().map { i, members in
                                ExamRoom(id: "R0\(i + 1)", name: "考场\(i + 1)",
                                         panel: [Examiner(id: "E0\(i + 1)", name: "考官", chief: true)],
                                         candidates: members, proctors: ["P0\(i + 1)"])
                            })
        var s = try TimingState(plan: plan)
        let everyone = rooms.flatMap { $0 }
        for n in everyone where chance(0.85) {
            _ = try s.applyRoster(examNumber: n, status: .confirmed, now: t("2022-11-17 10:00"))
        }
        var now = t("2022-11-17 10:00")
        var steps = 0, fromTicks = 0, started = 0
        for phase in [(t("2022-11-18 08:48"), t("2022-11-18 10:30"), Sitting.mock),
                      (t("2022-11-19 10:58"), t("2022-11-19 13:30"), Sitting.formal)] {
            let sitting = phase.2
            now = phase.0
            while now < phase.1 {
                steps += 1
                // The shell's way: tick first (checked against the scan), then one operation.
                var other = s
                let fired = s.tick(now: now, seed: UInt64(steps))
                let firedByScan = other.tickByScan(now: now, seed: UInt64(steps))
                #expect(fired == firedByScan)
                fromTicks += fired.count
                #expect(s == other)
                expectIndexMatchesScan(s)
                _ = s.takeChanges()
                let before = s
                // Mostly entries while entry is open; then mostly screening and interviews.
                let beforeClose = now < plan.entry(sitting).closes
                let kinds = beforeClose ? [0, 1, 2, 3, 4, 4, 4, 4, 4, 5, 5, 5, 5, 6]
                                        : [0, 1, 2, 3, 4, 6, 7, 7, 7, 8, 8, 8, 8, 9, 10, 10, 11, 11, 12, 12, 13]
                let kind = pick(kinds)
                // Acting on an interview: mostly the one running in a room.
                let running = s.rooms.values.filter { $0.sitting == sitting }.compactMap(\.current).sorted()
                let n = (10...12).contains(kind) && !running.isEmpty && chance(0.9) ? pick(running) : pick(everyone)
                let room = "R0\(everyone.firstIndex(of: n)! / 6 + 1)"
                let proctor = chance(0.95) ? "P\(room.dropFirst())" : "P09"
                let ch = chance(0.7) ? EntryChannel.main : .secondary
                let device = chance(0.9) ? "\(ch.rawValue)-\(n)" : "spare-\(n)"
                let op: (inout TimingState) throws -> [TimingEvent]
                switch kind {
                case 0: op = { try $0.applyRoster(examNumber: n, status: chance(0.85) ? .confirmed : pick(RosterStatus.allCases), now: now) }
                case 1 where chance(0.3): op = { try $0.applyDisqualification(examNumber: n, incidentID: "I-\(n)", now: now) }
                case 1, 2: op = { try $0.applyReinstatement(examNumber: n, incidentID: "I-\(n)", now: now) }
                case 3: op = { try $0.applyDeviceFitness(examNumber: n, channel: ch, fit: chance(0.7), reasons: ["r"], now: now) }
                case 4, 5: op = { try $0.enter(examNumber: n, sitting: sitting, channel: ch, deviceID: device, now: now) }
                case 6: op = { try $0.leave(examNumber: n, sitting: sitting, channel: ch, now: now) }
                case 7: op = { try $0.recordScreening(examNumber: n, sitting: sitting, identityConfirmed: chance(0.9),
                                                      checks: ScreeningCheck.allPassed, proctor: proctor, now: now) }
                case 8, 9: op = { s in
                    let next = (try? s.roomView(roomID: room, sitting: sitting, now: now).next) ?? nil
                    return try s.startInterview(roomID: room, sitting: sitting, examNumber: next ?? n, proctor: proctor, now: now)
                }
                case 10: op = { try $0.revealQuestion(examNumber: n, deviceID: "main-\(n)", now: now) }
                case 11: op = { try $0.announceAnswering(examNumber: n, proctor: proctor, now: now) }
                case 12: op = { try $0.endInterview(examNumber: n, deviceID: "main-\(n)", now: now) }
                default:
                    if chance(0.03) {
                        op = { try $0.endRoom(roomID: room, sitting: sitting, proctor: proctor, now: now) }
                    } else {
                        let seed = rng.next()
                        op = { try $0.drawOrder(roomID: room, sitting: sitting, seed: seed, proctor: proctor, now: now) }
                    }
                }
                do {
                    let events = try op(&s)
                    started += events.filter { if case .interviewStarted = $0 { return true } else { return false } }.count
                } catch is TimingError {
                    #expect(s == before, "a refused operation changed the state")
                }
                #expect(s.changedDocuments == s.changes(since: before))
                expectIndexMatchesScan(s)
                now = now.plus(Double(rng.below(beforeClose ? 4_000 : 45_000)) / 1000)
                if !beforeClose, chance(0.05), let d = s.nextDeadline(), d > now, d < now.plus(600) { now = d } // exactly at a deadline
            }
            now = phase.1
        }
        #expect(steps > 200)
        #expect(started > 10)
        #expect(fromTicks > 20)
    }
}

