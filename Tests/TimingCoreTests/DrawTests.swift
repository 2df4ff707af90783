import ExamPlan
import Foundation
import Testing
@testable import TimingCore

@Suite("Interview order draw (R20)")
struct DrawTests {
    @Test("SplitMix64 matches the published reference outputs")
    func referenceVector() {
        var g = SplitMix64(seed: 0)
        #expect(g.next() == 0xE220_A839_7B1D_CDAF)
        #expect(g.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(g.next() == 0x06C4_5D18_8009_454F)
    }

    @Test("below() stays in range")
    func below() {
        var g = SplitMix64(seed: 42)
        for bound in [1, 2, 3, 7, 100] as [UInt64] {
            for _ in 0..<200 { #expect(g.below(bound) < bound) }
        }
    }

    @Test("the order is a permutation, reproducible from the seed and independent of input order")
    func reproducible() {
        let a = InterviewDraw.order(of: R01, seed: 99)
        #expect(Set(a) == Set(R01))
        #expect(InterviewDraw.order(of: R01.reversed(), seed: 99) == a)
        #expect(InterviewDraw.order(of: R01.sorted(), seed: 99) == a)
        // Different seeds give different orders (for these, at least).
        let orders = Set((0..<20).map { InterviewDraw.order(of: R01, seed: UInt64($0)) })
        #expect(orders.count > 1)
    }

    @Test("the draw at the entry close records its seed; the order is reproducible and plan-order independent")
    func drawAtClose() throws {
        func run(_ plan: ExamPlan) throws -> (TimingEvent, DrawRecord) {
            var s = try TimingState(plan: plan)
            for n in R01 + R02 { _ = try s.applyRoster(examNumber: n, status: .confirmed, now: t("2022-11-17 10:00")) }
            for n in R01 { try enterBoth(&s, n, at: t("2022-11-19 11:03")) }
            let ev = s.tick(now: t("2022-11-19 11:10"), seed: 7)
            let drawn = ev.first { if case .orderDrawn(_, "R01", _, _, _, _, _, _) = $0 { true } else { false } }!
            return (drawn, s.rooms[TimingState.key(.formal, "R01")]!.draw!)
        }
        let (e1, d1) = try run(noticePlan())
        let (e2, d2) = try run(noticePlan(r01: R01.reversed(), r02: R02.reversed()))
        #expect(e1 == e2)
        #expect(d1 == d2)
        guard case .orderDrawn(.formal, "R01", let seed, let order, nil, nil, let due, _) = e1 else {
            Issue.record("not an automatic draw: \(e1)"); return
        }
        #expect(due == t("2022-11-19 11:10"))
        // Anyone can check it from the event alone.
        #expect(InterviewDraw.order(of: order, seed: seed) == order)
        #expect(InterviewDraw.order(of: R01, seed: seed) == order)
        // The room seed is the first output of SplitMix64(tick seed): R01 comes first in the plan.
        var g = SplitMix64(seed: 7)
        #expect(seed == g.next())
    }

    @Test("staff may redraw before the first interview, not after; the replaced draw is kept")
    func staffRedraw() throws {
        var s = try confirmedState()
        _ = s.tick(now: t("2022-11-19 11:01"), seed: 1)
        expectRefusal(&s, .failedPrecondition,
                      "room R01 (formal interview): the order is drawn when entry closes at 2022-11-19 11:10:00; redraw after that") {
            try $0.drawOrder(roomID: "R01", sitting: .formal, seed: 5, proctor: "P01", now: t("2022-11-19 11:01"))
        }
        let first = try formalRoomReady(&s)
        let ev = try s.drawOrder(roomID: "R01", sitting: .formal, seed: 5, proctor: "P01", now: t("2022-11-19 11:11"))
        let order = InterviewDraw.order(of: R01, seed: 5)
        let oldSeed = s.rooms["formal/R01"]!.replacedDraws.first!.seed
        #expect(ev == [.orderDrawn(sitting: .formal, roomID: "R01", seed: 5, order: order, drawnBy: "P01",
                                   replacesSeed: oldSeed, due: nil, at: t("2022-11-19 11:11"))])
        #expect(s.rooms["formal/R01"]!.replacedDraws.map(\.order) == [first])
        expectRefusal(&s, .permissionDenied) {
            try $0.drawOrder(roomID: "R01", sitting: .formal, seed: 6, proctor: "P02", now: t("2022-11-19 11:11"))
        }
        _ = try s.startInterview(roomID: "R01", sitting: .formal, examNumber: order[0], proctor: "P01", now: t("2022-11-19 11:12"))
        expectRefusal(&s, .failedPrecondition) {
            try $0.drawOrder(roomID: "R01", sitting: .formal, seed: 6, proctor: "P01", now: t("2022-11-19 11:13"))
        }
    }
}
