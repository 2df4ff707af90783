import ExamPlan
import Foundation
import Synchronization
import Testing
@testable import MediaCore

// The media core's decisions (R64, R65): who may join which room, when a
// grant ends, and what Janus is told. Pure: no Janus, no clock.

let t0 = Date(timeIntervalSince1970: 1_668_827_520)   // 2022-11-19 11:12:00 Beijing
let A = "2022110001", B = "2022110002"
let staff = RoomStaff(roomID: "R01", proctors: ["proctor-r01"], panel: ["examiner-1", "examiner-2", "chief-r01"], chiefs: ["chief-r01"])

let counter = Mutex<UInt64>(0)
func fresh() -> Fresh {
    let k = counter.withLock { c -> UInt64 in c += 1; return c }
    let n = k * 100
    return Fresh(grantID: "g-\(k)", secrets: (0..<Fresh.perGrant).map { "secret-\(n + UInt64($0))" },
                 ids: (0..<Fresh.perGrant).map { n + UInt64($0) })
}

func facts(_ exam: String = A, status: String = "waiting", main: Bool = true, secondary: Bool = true, running: Bool = false,
           disqualified: Bool = false) -> CandidateFacts {
    CandidateFacts(examNumber: exam, roomID: "R01", sitting: .formal, status: status, inMainRoom: main, inSecondaryRoom: secondary,
                   mainDevice: main ? "\(exam)-main" : "", secondaryDevice: secondary ? "\(exam)-sec" : "",
                   disqualified: disqualified, interviewRunning: running)
}

func code(_ body: () throws -> Any) -> MediaError.Code? {
    do { _ = try body(); return nil } catch let e as MediaError { return e.code } catch { return nil }
}

@Suite struct PhoneGrants {
    @Test func aPhoneGetsItsOwnRoomOnlyWithAToken() throws {
        var s = MediaState()
        let g = try s.grantPhone(examNumber: A, side: .main, deviceID: "\(A)-main", facts: facts(), fresh: fresh(), now: t0)
        #expect(g.accesses.count == 1)
        let a = g.accesses[0]
        #expect(a.side == .main && a.send == .camera && a.receive == .staffVoice && a.display == "phone:main")
        #expect(g.joinBy == t0.addingTimeInterval(30))
        let effects = s.takeEffects()
        // The room is made (empty allowed list), then the token allowed.
        guard case .ensure(let room, let allowed) = effects.first else { Issue.record("no room made: \(effects)"); return }
        #expect(room.janusRoom == a.janusRoom && allowed.isEmpty && room.live)
        #expect(effects.contains(.allow(janusRoom: a.janusRoom, secret: room.secret, tokens: [a.token])))
        let sec = try s.grantPhone(examNumber: A, side: .secondary, deviceID: "\(A)-sec", facts: facts(), fresh: fresh(), now: t0)
        #expect(sec.accesses[0].receive == .none, "the secondary phone plays nothing (R30)")
        #expect(sec.accesses[0].janusRoom != a.janusRoom, "each phone has a room of its own (主房间, 副房间)")
    }

    @Test func refusals() throws {
        var s = MediaState()
        // Not entered, another phone (a third device), disqualified, interview over, absent.
        #expect(code { try s.grantPhone(examNumber: A, side: .main, deviceID: "\(A)-main", facts: facts(main: false), fresh: fresh(), now: t0) } == .failedPrecondition)
        #expect(code { try s.grantPhone(examNumber: A, side: .main, deviceID: "third-phone", facts: facts(), fresh: fresh(), now: t0) } == .failedPrecondition)
        #expect(code { try s.grantPhone(examNumber: A, side: .main, deviceID: "\(A)-main", facts: facts(disqualified: true), fresh: fresh(), now: t0) } == .failedPrecondition)
        #expect(code { try s.grantPhone(examNumber: A, side: .main, deviceID: "\(A)-main", facts: facts(status: "interviewed"), fresh: fresh(), now: t0) } == .failedPrecondition)
        #expect(code { try s.grantPhone(examNumber: A, side: .main, deviceID: "\(A)-main", facts: facts(status: "absent"), fresh: fresh(), now: t0) } == .failedPrecondition)
        // Facts of another candidate (the device is B's, the token A's).
        #expect(code { try s.grantPhone(examNumber: A, side: .main, deviceID: "\(B)-main", facts: facts(B), fresh: fresh(), now: t0) } == .permissionDenied)
        // A secondary phone asking as main: it is not the main room's device.
        #expect(code { try s.grantPhone(examNumber: A, side: .main, deviceID: "\(A)-sec", facts: facts(), fresh: fresh(), now: t0) } == .failedPrecondition)
        #expect(s.grants.isEmpty && s.takeEffects().isEmpty && s.takeChanges().events.isEmpty, "a refusal changes nothing")
    }

    @Test func aReloadReplacesTheOldGrantAndKicksItsFeed() throws {
        var s = MediaState()
        let g1 = try s.grantPhone(examNumber: A, side: .main, deviceID: "\(A)-main", facts: facts(), fresh: fresh(), now: t0)
        _ = s.takeEffects()
        let g2 = try s.grantPhone(examNumber: A, side: .main, deviceID: "\(A)-main", facts: facts(), fresh: fresh(), now: t0.addingTimeInterval(5))
        #expect(g1.accesses[0].janusRoom == g2.accesses[0].janusRoom, "the same room")
        #expect(s.grants[g1.id]?.endReason == "replaced")
        let effects = s.takeEffects()
        #expect(effects.contains { if case .kick(_, _, let f) = $0 { f == g1.accesses[0].feedID } else { false } })
        #expect(effects.contains { if case .disallow(_, _, let t) = $0 { t == [g1.accesses[0].token] } else { false } })
    }
}

@Suite struct StaffGrants {
    @Test func proctorsFromEntryPanelOnlyDuringTheInterview() throws {
        var s = MediaState()
        let p = try s.grantStaff(staffID: "proctor-r01", role: .proctor, staff: staff, facts: facts(), fresh: fresh(), now: t0)
        #expect(p.accesses.map(\.side) == [.main, .secondary])
        #expect(p.accesses.map(\.send) == [.voice, .none], "the proctor speaks into the main room only")
        #expect(p.accesses.allSatisfy { $0.receive == .phone })
        // The panel: not while the candidate waits (R65), yes while interviewed.
        #expect(code { try s.grantStaff(staffID: "examiner-1", role: .examiner, staff: staff, facts: facts(), fresh: fresh(), now: t0) } == .failedPrecondition)
        let e = try s.grantStaff(staffID: "examiner-1", role: .examiner, staff: staff, facts: facts(status: "interviewing", running: true),
                                 fresh: fresh(), now: t0)
        #expect(e.accesses.allSatisfy { $0.send == .none && $0.receive == .phone })
        #expect(e.accesses.map(\.janusRoom) == p.accesses.map(\.janusRoom), "the candidate's same two rooms")
        let c = try s.grantStaff(staffID: "chief-r01", role: .chief, staff: staff, facts: facts(status: "interviewing", running: true),
                                 fresh: fresh(), now: t0)
        #expect(c.basis == "interviewing")
    }

    @Test func otherRoomsAndRolesAreRefused() throws {
        var s = MediaState()
        #expect(code { try s.grantStaff(staffID: "proctor-r02", role: .proctor, staff: staff, facts: facts(), fresh: fresh(), now: t0) } == .permissionDenied)
        #expect(code { try s.grantStaff(staffID: "examiner-9", role: .examiner, staff: staff, facts: facts(status: "interviewing", running: true), fresh: fresh(), now: t0) } == .permissionDenied)
        #expect(code { try s.grantStaff(staffID: "examiner-1", role: .chief, staff: staff, facts: facts(status: "interviewing", running: true), fresh: fresh(), now: t0) } == .permissionDenied)
        #expect(code { try s.grantStaff(staffID: A, role: .candidate, staff: staff, facts: facts(B), fresh: fresh(), now: t0) } == .permissionDenied)
        #expect(code { try s.grantStaff(staffID: "proctor-r01", role: .proctor, staff: staff, facts: facts(main: false, secondary: false), fresh: fresh(), now: t0) } == .failedPrecondition)
        #expect(s.rooms.isEmpty && s.grants.isEmpty)
    }
}

@Suite struct Endings {
    func live() throws -> (MediaState, phone: Grant, proctor: Grant, examiner: Grant) {
        var s = MediaState()
        let phone = try s.grantPhone(examNumber: A, side: .main, deviceID: "\(A)-main", facts: facts(), fresh: fresh(), now: t0)
        let proctor = try s.grantStaff(staffID: "proctor-r01", role: .proctor, staff: staff, facts: facts(), fresh: fresh(), now: t0)
        let examiner = try s.grantStaff(staffID: "examiner-1", role: .examiner, staff: staff, facts: facts(status: "interviewing", running: true),
                                        fresh: fresh(), now: t0)
        _ = s.takeEffects()
        _ = s.takeChanges()
        return (s, phone, proctor, examiner)
    }

    @Test func theInterviewsEndDestroysBothRoomsAndEndsEveryGrant() throws {
        var (s, phone, proctor, examiner) = try live()
        s.interviewEnded(examNumber: A, sitting: .formal, now: t0.addingTimeInterval(600))
        for g in [phone, proctor, examiner] { #expect(s.grants[g.id]?.endReason == "interview_ended") }
        let effects = s.takeEffects()
        let destroys = effects.compactMap { e -> UInt64? in if case .destroy(_, let r, _) = e { r } else { nil } }
        #expect(Set(destroys) == Set(proctor.accesses.map(\.janusRoom)))
        // Only the destroys: nothing queued before them on Janus (R16's second).
        #expect(effects.count == destroys.count, "\(effects)")
        #expect(s.rooms.values.allSatisfy { !$0.live })
        // R16/R18: no new grant for a closed room, even with stale facts.
        #expect(code { try s.grantPhone(examNumber: A, side: .main, deviceID: "\(A)-main", facts: facts(), fresh: fresh(), now: t0.addingTimeInterval(601)) } == .failedPrecondition)
        #expect(s.takeChanges().events.count == 3)
    }

    @Test func disqualificationLeavingAndSigningOut() throws {
        var (s, phone, proctor, examiner) = try live()
        s.phoneLeft(examNumber: A, sitting: .formal, side: .main, now: t0)
        #expect(s.grants[phone.id]?.endReason == "left")
        #expect(s.takeEffects().contains(.kick(janusRoom: phone.accesses[0].janusRoom, secret: s.rooms[phone.accesses[0].roomKey]!.secret,
                                                feedID: phone.accesses[0].feedID)))
        #expect(s.signedOut(holder: "examiner-1", role: .examiner, now: t0) == 1)
        #expect(s.grants[examiner.id]?.endReason == "signed_out")
        #expect(code { try s.leave(grantID: proctor.id, holder: "examiner-1", role: .examiner, now: t0) } == .permissionDenied)
        s.disqualified(examNumber: A, now: t0)
        #expect(s.grants[proctor.id]?.endReason == "disqualified")
        #expect(s.rooms.values.allSatisfy { !$0.live })
    }

    @Test func joinWindowClosesTokensButNotParticipants() throws {
        var (s, phone, _, _) = try live()
        #expect(s.nextDeadline() == phone.joinBy)
        s.tick(now: phone.joinBy)
        let effects = s.takeEffects()
        #expect(effects.contains { if case .disallow(_, _, let t) = $0 { t == [phone.accesses[0].token] } else { false } })
        #expect(!effects.contains { if case .kick = $0 { true } else { false } }, "a joined phone stays after its join window")
        #expect(s.grants[phone.id]?.live == true)
    }
}

@Suite struct Reconciliation {
    @Test func unexplainedParticipantsAreKickedAndMissingRoomsRemade() throws {
        var s = MediaState()
        let g = try s.grantPhone(examNumber: A, side: .main, deviceID: "\(A)-main", facts: facts(), fresh: fresh(), now: t0)
        _ = s.takeEffects()
        let a = g.accesses[0]
        s.observed(roomKey: a.roomKey, participants: [
            ObservedParticipant(feedID: a.feedID, display: a.display, publishing: true),
            ObservedParticipant(feedID: 999_999, display: "phone:main", publishing: true),     // not granted
            ObservedParticipant(feedID: a.feedID + 1, display: "phone:secondary", publishing: true),
        ], now: t0)
        let kicks = s.takeEffects().compactMap { e -> UInt64? in if case .kick(_, _, let f) = e { f } else { nil } }
        #expect(Set(kicks) == [999_999, a.feedID + 1])
        // Janus restarted: the room is re-made with the token still in its join window.
        s.roomMissing(roomKey: a.roomKey, now: t0.addingTimeInterval(1))
        #expect(s.takeEffects() == [.ensure(s.rooms[a.roomKey]!, allowed: [a.token])])
        // After the join window, it is re-made without it (the page asks a fresh grant).
        s.roomMissing(roomKey: a.roomKey, now: t0.addingTimeInterval(60))
        #expect(s.takeEffects() == [.ensure(s.rooms[a.roomKey]!, allowed: [])])
    }

    @Test func aRestartedMediaResyncsFromItsStore() throws {
        var s = MediaState()
        let g = try s.grantPhone(examNumber: A, side: .main, deviceID: "\(A)-main", facts: facts(), fresh: fresh(), now: t0)
        _ = try s.grantPhone(examNumber: B, side: .main, deviceID: "\(B)-main", facts: facts(B), fresh: fresh(), now: t0)
        s.interviewEnded(examNumber: B, sitting: .formal, now: t0)
        let stored = (rooms: Array(s.rooms.values), grants: Array(s.grants.values))
        var again = MediaState(rooms: stored.rooms, grants: stored.grants)
        again.resync(now: t0)
        let effects = again.takeEffects()
        #expect(effects.contains { if case .ensure(let r, let t) = $0 { r.examNumber == A && t == [g.accesses[0].token] } else { false } })
        #expect(effects.contains { if case .destroy(let k, _, _) = $0 { k.hasPrefix(B) } else { false } })
        again.destroyed(roomKey: MediaRoom.key(B, .formal, .main))
        again.resync(now: t0)
        #expect(!again.takeEffects().contains { if case .destroy = $0 { true } else { false } }, "a destroyed room is not destroyed again")
    }
}
