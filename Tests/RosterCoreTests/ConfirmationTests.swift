import Foundation
import Testing
import ExamPlan
@testable import RosterCore

/// R3-R6: the confirmation window, the photo, the identity check, forfeits.
@Suite struct ConfirmationTests {
    /// Candidate `i` logs in and uploads a valid photo at `now`.
    func upload(_ s: inout RosterState, _ i: Int, photo: Data? = nil, digest d: String? = nil, card: CardReading? = nil,
                now: Date = inWindow) throws -> [RosterEvent] {
        let token = (try? s.authenticate(tokenDigest: digest(i), now: now)) != nil ? digest(i) : try logIn(&s, i, now: now)
        return try s.uploadPhoto(tokenDigest: token, photo: photo ?? png(seed: UInt8(i)), fileName: "card.png",
                                 sha256: d ?? photoDigest(i), card: card, now: now)
    }

    func uploadAndConfirm(_ s: inout RosterState, _ i: Int, now: Date = inWindow) throws -> [RosterEvent] {
        _ = try upload(&s, i, now: now)
        return try s.confirm(tokenDigest: digest(i), now: now)
    }

    @Test func withoutAPlanConfirmingIsRefused() throws {
        var s = try seeded(2, plan: false)
        let token = try logIn(&s, 1)
        expectRefusal(&s, .failedPrecondition, "no exam plan yet") { s throws(RosterError) in _ = try s.confirm(tokenDigest: token, now: inWindow) }
        expectRefusal(&s, .failedPrecondition, "no exam plan yet") { s throws(RosterError) in _ = try s.decline(tokenDigest: token, now: inWindow) }
        expectRefusal(&s, .failedPrecondition, "no exam plan yet") { s throws(RosterError) in
            _ = try s.uploadPhoto(tokenDigest: token, photo: png(), fileName: "a.png", sha256: photoDigest(1), now: inWindow)
        }
        #expect(s.nextDeadline() == nil && s.tick(now: bj("2022-11-30 00:00:00")).isEmpty)
    }

    @Test func setPlan() throws {
        var s = try seeded(1, plan: false)
        #expect(try s.setPlan(testPlan(), now: beforeWindow) == [.planApplied(exam: testPlan().exam, confirmation: testPlan().confirmation, at: beforeWindow)])
        #expect(try s.setPlan(testPlan(), now: beforeWindow).isEmpty)
        #expect(s.nextDeadline() == windowCloses)
        expectRefusal(&s, .invalidArgument, "closes before it opens") { s throws(RosterError) in
            _ = try s.setPlan(testPlan(opens: windowCloses, closes: windowOpens), now: beforeWindow)
        }
        #expect(try s.setPlan(testPlan(), now: beforeWindow).changedDocuments.isEmpty)
    }

    @Test func theUploadRecordsItsChecks() throws {
        var s = try seeded(2)
        let events = try upload(&s, 1)
        let c = try #require(s.candidates["2022110001"])
        #expect(c.status == .photoUploaded)
        let id = try #require(c.identity)
        #expect(id.photo == PhotoFacts(format: .png, width: 1200, height: 800, byteCount: png(seed: 1).count, sha256: photoDigest(1),
                                       fileName: "card.png", fileNameAgrees: true))
        #expect(id.checksPassed == [.realImage, .fileSize, .pixelSize, .colour, .notDuplicate])
        #expect(id.checksOpen == [.cardNameMatchesRoster, .cardIDMatchesRoster, .faceMatchesCard])
        #expect(id.stage == .awaitingReview)
        #expect(events.last == .photoUploaded(examNumber: "2022110001", postCode: "P01", photo: id.photo,
                                              checksPassed: id.checksPassed, checksOpen: id.checksOpen, at: inWindow))
        #expect(s.reviewQueue().map(\.examNumber) == ["2022110001"])
        // With the card read by the client, name and ID are checked here.
        let r2 = candidateRow(2)
        _ = try upload(&s, 2, card: CardReading(name: r2.name, idNumber: r2.id.lowercased()))
        #expect(s.candidates["2022110002"]?.identity?.checksOpen == [.faceMatchesCard])
    }

    @Test func theCardMustMatchTheRoster() throws {
        var s = try seeded(2)
        let token = try logIn(&s, 1)
        let r1 = candidateRow(1)
        expectRefusal(&s, .invalidArgument, "the name on the card ('李四')") { s throws(RosterError) in
            _ = try s.uploadPhoto(tokenDigest: token, photo: png(), fileName: "a.png", sha256: photoDigest(1),
                                  card: CardReading(name: "李四", idNumber: r1.id), now: inWindow)
        }
        expectRefusal(&s, .invalidArgument, "the ID number on the card") { s throws(RosterError) in
            _ = try s.uploadPhoto(tokenDigest: token, photo: png(), fileName: "a.png", sha256: photoDigest(1),
                                  card: CardReading(name: r1.name, idNumber: candidateRow(2).id), now: inWindow)
        }
    }

    @Test func badPhotosAreRefusedAndNothingIsStored() throws {
        var s = try seeded(2)
        _ = try upload(&s, 1)
        let token = try logIn(&s, 2)
        var huge = jpeg(); huge.append(Data(count: 20 * 1024 * 1024))
        expectRefusal(&s, .resourceExhausted, "more than the 5242880 allowed") { s throws(RosterError) in
            _ = try s.uploadPhoto(tokenDigest: token, photo: huge, fileName: "big.jpg", sha256: photoDigest(2), now: inWindow)
        }
        expectRefusal(&s, .invalidArgument, "greyscale") { s throws(RosterError) in
            _ = try s.uploadPhoto(tokenDigest: token, photo: png(colourType: 0), fileName: "a.png", sha256: photoDigest(2), now: inWindow)
        }
        expectRefusal(&s, .invalidArgument, "not a valid JPEG") { s throws(RosterError) in
            _ = try s.uploadPhoto(tokenDigest: token, photo: jpeg().dropLast(2), fileName: "a.jpg", sha256: photoDigest(2), now: inWindow)
        }
        // Byte-identical to candidate 1's photo (same digest): refused.
        expectRefusal(&s, .alreadyExists, "byte-identical to another candidate's photo") { s throws(RosterError) in
            _ = try s.uploadPhoto(tokenDigest: token, photo: png(seed: 1), fileName: "a.png", sha256: photoDigest(1), now: inWindow)
        }
        expectRefusal(&s, .invalidArgument, "sha256") { s throws(RosterError) in
            _ = try s.uploadPhoto(tokenDigest: token, photo: png(), fileName: "a.png", sha256: "ABC", now: inWindow)
        }
        #expect(s.candidates["2022110002"]?.identity == nil)
        // Candidate 1 may upload the same bytes again (a retry).
        let again = try s.uploadPhoto(tokenDigest: digest(1), photo: png(seed: 1), fileName: "again.png", sha256: photoDigest(1), now: inWindow)
        #expect(again.count == 1)
    }

    /// R3: 09:00:00.000 and 15:59:59.999 are inside, 16:00:00.000 is late.
    @Test func windowEdges() throws {
        var s = try seeded(4)
        let tooEarly = bj("2022-11-17 08:59:59", ms: 999)
        let t1 = try logIn(&s, 1, now: tooEarly)
        expectRefusal(&s, .failedPrecondition, "confirmation opens at 2022-11-17 09:00:00 (Beijing time)") { s throws(RosterError) in
            _ = try s.uploadPhoto(tokenDigest: t1, photo: png(seed: 1), fileName: "a.png", sha256: photoDigest(1), now: tooEarly)
        }
        #expect(try uploadAndConfirm(&s, 1, now: windowOpens) == [.confirmed(examNumber: "2022110001", postCode: "P01", identity: .awaitingReview, at: windowOpens)])
        #expect(try uploadAndConfirm(&s, 2, now: lastMillisecond).count == 1)
        _ = try upload(&s, 3, now: lastMillisecond)
        let e = expectRefusal(&s, .failedPrecondition) { s throws(RosterError) in _ = try s.confirm(tokenDigest: digest(3), now: windowCloses) }
        #expect(e?.message == "confirmation closed at 2022-11-17 16:00:00 (Beijing time); 2022-11-17T16:00:00.000+08:00 is late (R3, R5)")
        expectRefusal(&s, .failedPrecondition, "is late") { s throws(RosterError) in _ = try s.decline(tokenDigest: digest(3), now: windowCloses) }
        #expect(s.candidates["2022110001"]?.status == .confirmed && s.candidates["2022110002"]?.status == .confirmed)
        #expect(s.candidates["2022110001"]?.confirmedAt == windowOpens)
    }

    @Test func confirmNeedsAPhotoFirstAndOnlyOnce() throws {
        var s = try seeded(2)
        let token = try logIn(&s, 1)
        expectRefusal(&s, .failedPrecondition, "upload the colour photo of the ID card's portrait side first") { s throws(RosterError) in
            _ = try s.confirm(tokenDigest: token, now: inWindow)
        }
        _ = try uploadAndConfirm(&s, 1)
        expectRefusal(&s, .failedPrecondition, "already confirmed") { s throws(RosterError) in _ = try s.confirm(tokenDigest: token, now: inWindow) }
        expectRefusal(&s, .failedPrecondition, "already confirmed") { s throws(RosterError) in
            _ = try s.uploadPhoto(tokenDigest: token, photo: png(seed: 9), fileName: "a.png", sha256: photoDigest(9), now: inWindow)
        }
    }

    /// R3 decline = giving up the post; R6 then keeps the candidate out.
    @Test func declinedCandidatesStayOut() throws {
        var s = try seeded(3)
        let token = try logIn(&s, 1)
        #expect(try s.decline(tokenDigest: token, reason: " 已找到工作 ", now: inWindow)
                == [.declined(examNumber: "2022110001", postCode: "P01", reason: "已找到工作", at: inWindow)])
        #expect(s.candidates["2022110001"]?.status == .declined)
        for call in ["confirm", "decline", "upload"] {
            expectRefusal(&s, .failedPrecondition, "declined at 2022-11-17 10:00:00 (Beijing time)") { s throws(RosterError) in
                switch call {
                case "confirm": _ = try s.confirm(tokenDigest: token, now: inWindow)
                case "decline": _ = try s.decline(tokenDigest: token, now: inWindow)
                default: _ = try s.uploadPhoto(tokenDigest: token, photo: png(), fileName: "a.png", sha256: photoDigest(1), now: inWindow)
                }
            }
        }
        // A confirmed candidate may still decline inside the window.
        _ = try uploadAndConfirm(&s, 2)
        _ = try s.decline(tokenDigest: digest(2), now: inWindow)
        #expect(s.candidates["2022110002"]?.status == .declined)
        #expect(s.view(s.candidates["2022110002"]!).mayEnterRooms == false)
        #expect(s.reviewQueue().isEmpty)
    }

    /// R5: at 16:00 everyone unconfirmed is forfeited, exactly once.
    @Test func forfeitsAtTheWindowsEnd() throws {
        var s = try seeded(5)
        _ = try uploadAndConfirm(&s, 1)
        _ = try upload(&s, 2)                                       // photo, never confirmed
        _ = try s.decline(tokenDigest: try logIn(&s, 3), now: inWindow)
        // 4 and 5 never act.
        #expect(s.nextDeadline() == windowCloses)
        #expect(s.tick(now: lastMillisecond).isEmpty)
        let events = s.tick(now: windowCloses)
        let detail = "not confirmed by the end of the confirmation window 2022-11-17 09:00:00 - 16:00:00 (R5)"
        #expect(events == ["2022110002", "2022110004", "2022110005"].map {
            .forfeited(examNumber: $0, postCode: "P01", reason: .confirmationWindowClosed, detail: detail, at: windowCloses, recordedAt: windowCloses)
        } + [.confirmationClosed(window: testPlan().confirmation, forfeited: 3, confirmed: 1, declined: 1, recordedAt: windowCloses)])
        #expect(events.changedDocuments == [.candidate("2022110002"), .candidate("2022110004"), .candidate("2022110005"), .meta])
        #expect(s.countsByStatus() == [.imported: 0, .photoUploaded: 0, .confirmed: 1, .declined: 1, .forfeited: 3])
        #expect(s.nextDeadline() == nil)
        #expect(s.tick(now: windowCloses.addingTimeInterval(1)).isEmpty)
        #expect(s.reviewQueue().map(\.examNumber) == ["2022110001"])
        // R6: forfeited candidates cannot confirm, upload or decline.
        let token2 = try logIn(&s, 2, token: 22, now: windowCloses)
        for call in ["confirm", "decline", "upload"] {
            expectRefusal(&s, .failedPrecondition, "forfeited at 2022-11-17 16:00:00 (Beijing time) (confirmation_window_closed)") { s throws(RosterError) in
                switch call {
                case "confirm": _ = try s.confirm(tokenDigest: token2, now: windowCloses)
                case "decline": _ = try s.decline(tokenDigest: token2, now: windowCloses)
                default: _ = try s.uploadPhoto(tokenDigest: token2, photo: png(seed: 50), fileName: "a.png", sha256: photoDigest(50), now: windowCloses)
                }
            }
        }
        // A later plan moving the window does not reopen it.
        _ = try s.setPlan(testPlan(opens: windowOpens, closes: bj("2022-11-17 18:00:00")), now: windowCloses)
        #expect(s.nextDeadline() == nil)
        let token4 = try logIn(&s, 4, now: bj("2022-11-17 17:00:00"))
        expectRefusal(&s, .failedPrecondition, "forfeited") { s throws(RosterError) in _ = try s.confirm(tokenDigest: token4, now: bj("2022-11-17 17:00:00")) }
    }

    /// R5 after downtime: the first tick hours late catches up, once.
    @Test func catchUpWhenTickIsCalledHoursLate() throws {
        var s = try seeded(3)
        _ = try uploadAndConfirm(&s, 1)
        let restart = bj("2022-11-17 21:30:00")
        // The service was down: it restarts from its documents.
        let data = try JSONEncoder().encode(s)
        var back = try JSONDecoder().decode(RosterState.self, from: data)
        #expect(back == s)
        #expect(back.nextDeadline() == windowCloses)
        let events = back.tick(now: restart)
        #expect(events.count == 3)
        #expect(events.first == .forfeited(examNumber: "2022110002", postCode: "P01", reason: .confirmationWindowClosed,
                                           detail: "not confirmed by the end of the confirmation window 2022-11-17 09:00:00 - 16:00:00 (R5)",
                                           at: windowCloses, recordedAt: restart))
        #expect(back.candidates["2022110002"]?.forfeitedAt == windowCloses)
        #expect(back.meta.closure == ConfirmationClosure(window: testPlan().confirmation, recordedAt: restart, forfeited: 2))
        #expect(back.tick(now: restart).isEmpty && back.tick(now: restart.addingTimeInterval(3600)).isEmpty)
        // The same from documents (candidates, posts, meta).
        var fromDocs = RosterState(candidates: s.candidates.values, posts: s.posts.values, meta: s.meta)
        #expect(fromDocs == s)
        #expect(try fromDocs.authenticate(tokenDigest: digest(1), now: inWindow) == "2022110001")
        #expect(fromDocs.tick(now: restart) == events)
    }

    @Test func reviewQueueAndDecisions() throws {
        var s = try seeded(4)
        _ = try upload(&s, 3, now: inWindow)
        _ = try upload(&s, 1, now: inWindow.addingTimeInterval(60))
        _ = try upload(&s, 2, now: inWindow.addingTimeInterval(60))
        #expect(s.reviewQueue().map(\.examNumber) == ["2022110003", "2022110001", "2022110002"])

        expectRefusal(&s, .invalidArgument, "needs a reason") { s throws(RosterError) in
            _ = try s.reviewPhoto(examNumber: "2022110003", approve: false, reason: "  ", reviewer: "P01", now: inWindow)
        }
        expectRefusal(&s, .notFound) { s throws(RosterError) in
            _ = try s.reviewPhoto(examNumber: "nobody", approve: true, reason: nil, reviewer: "P01", now: inWindow)
        }
        expectRefusal(&s, .failedPrecondition, "has no photo") { s throws(RosterError) in
            _ = try s.reviewPhoto(examNumber: "2022110004", approve: true, reason: nil, reviewer: "P01", now: inWindow)
        }
        expectRefusal(&s, .failedPrecondition, "uploaded another photo") { s throws(RosterError) in
            _ = try s.reviewPhoto(examNumber: "2022110003", approve: true, reason: nil, reviewer: "P01", photoSHA256: photoDigest(99), now: inWindow)
        }
        let t = inWindow.addingTimeInterval(120)
        let approved = try s.reviewPhoto(examNumber: "2022110003", approve: true, reason: nil, reviewer: "P01", photoSHA256: photoDigest(3), now: t)
        let decision = IdentityDecision(approved: true, decider: .reviewer(id: "P01"), score: nil, reason: nil, at: t, photoSHA256: photoDigest(3))
        #expect(approved == [.identityApproved(examNumber: "2022110003", postCode: "P01", decision: decision, status: .photoUploaded)])
        let rec = try #require(s.candidates["2022110003"]?.identity)
        #expect(rec.stage == .approvedByReviewer && rec.checksOpen.isEmpty && rec.checksPassed.contains(.faceMatchesCard))
        #expect(s.reviewQueue().map(\.examNumber) == ["2022110001", "2022110002"])
        expectRefusal(&s, .failedPrecondition, "already approved by reviewer P01") { s throws(RosterError) in
            _ = try s.reviewPhoto(examNumber: "2022110003", approve: false, reason: "x", reviewer: "P02", now: t)
        }
        // Confirming after approval carries the stage.
        #expect(try s.confirm(tokenDigest: digest(3), now: t) == [.confirmed(examNumber: "2022110003", postCode: "P01", identity: .approvedByReviewer, at: t)])
    }

    /// Rejected while the window is open: back to imported, upload again.
    @Test func rejectionInsideTheWindowSendsTheCandidateBack() throws {
        var s = try seeded(2)
        _ = try uploadAndConfirm(&s, 1)
        let t = inWindow.addingTimeInterval(300)
        let events = try s.reviewPhoto(examNumber: "2022110001", approve: false, reason: "照片模糊", reviewer: "P01", now: t)
        let decision = IdentityDecision(approved: false, decider: .reviewer(id: "P01"), score: nil, reason: "照片模糊", at: t, photoSHA256: photoDigest(1))
        #expect(events == [.identityRejected(examNumber: "2022110001", postCode: "P01", decision: decision, statusBefore: .confirmed, statusAfter: .imported)])
        let c = try #require(s.candidates["2022110001"])
        #expect(c.status == .imported && c.confirmedAt == nil && c.identity?.stage == .rejectedByReviewer)
        #expect(s.byPhoto[photoDigest(1)] == nil)
        expectRefusal(&s, .failedPrecondition, "the ID card photo was rejected (照片模糊)") { s throws(RosterError) in
            _ = try s.confirm(tokenDigest: digest(1), now: t)
        }
        expectRefusal(&s, .invalidArgument, "this photo was rejected (照片模糊)") { s throws(RosterError) in
            _ = try s.uploadPhoto(tokenDigest: digest(1), photo: png(seed: 1), fileName: "a.png", sha256: photoDigest(1), now: t)
        }
        _ = try s.uploadPhoto(tokenDigest: digest(1), photo: png(seed: 11), fileName: "b.png", sha256: photoDigest(11), now: t)
        #expect(s.candidates["2022110001"]?.lastRejection == decision)
        #expect(try s.confirm(tokenDigest: digest(1), now: t).count == 1)
        // Not confirmed again by 16:00 would have forfeited; confirmed stays.
        _ = s.tick(now: windowCloses)
        #expect(s.candidates["2022110001"]?.status == .confirmed)
    }

    /// Rejected after the window: a confirmed candidate forfeits.
    @Test func rejectionAfterTheWindowForfeits() throws {
        var s = try seeded(3)
        _ = try uploadAndConfirm(&s, 1)
        _ = try upload(&s, 2)
        _ = s.tick(now: windowCloses)
        #expect(s.reviewQueue().map(\.examNumber) == ["2022110001"])
        let t = bj("2022-11-17 18:00:00")
        expectRefusal(&s, .failedPrecondition, "is forfeited") { s throws(RosterError) in
            _ = try s.reviewPhoto(examNumber: "2022110002", approve: true, reason: nil, reviewer: "P01", now: t)
        }
        let events = try s.reviewPhoto(examNumber: "2022110001", approve: false, reason: "人证不符", reviewer: "P01", now: t)
        #expect(events.count == 2)
        #expect(events.last == .forfeited(examNumber: "2022110001", postCode: "P01", reason: .identityRejected,
                                          detail: "identity rejected by reviewer P01: 人证不符", at: t, recordedAt: t))
        #expect(s.candidates["2022110001"]?.status == .forfeited && s.candidates["2022110001"]?.forfeitReason == .identityRejected)
        #expect(s.reviewQueue().isEmpty)
    }

    /// A photo uploaded but not confirmed cannot be decided after the window
    /// even before the tick ran (the tick forfeits it).
    @Test func unconfirmedPhotoAfterTheWindowIsNotDecided() throws {
        var s = try seeded(1)
        _ = try upload(&s, 1)
        expectRefusal(&s, .failedPrecondition, "did not confirm before the window closed") { s throws(RosterError) in
            _ = try s.reviewPhoto(examNumber: "2022110001", approve: true, reason: nil, reviewer: "P01", now: windowCloses)
        }
    }

    @Test func faceComparisonBackend() throws {
        var s = try seeded(3)
        _ = try upload(&s, 1)
        _ = try upload(&s, 2)
        let t = inWindow.addingTimeInterval(5)
        let ok = try s.recordFaceComparison(examNumber: "2022110001", photoSHA256: photoDigest(1), backend: "face-v1", match: true,
                                            score: try Points("93.20"), reason: nil, now: t)
        guard case .identityApproved(_, _, let d, _) = ok.first else { Issue.record("\(ok)"); return }
        #expect(d.decider == .backend(name: "face-v1") && d.score == Points(hundredths: 9320))
        #expect(s.candidates["2022110001"]?.identity?.stage == .approvedByBackend)
        let no = try s.recordFaceComparison(examNumber: "2022110002", photoSHA256: photoDigest(2), backend: "face-v1", match: false,
                                            score: try Points("41.00"), reason: nil, now: t)
        guard case .identityRejected(_, _, let d2, _, let after) = no.first else { Issue.record("\(no)"); return }
        #expect(d2.reason == "the face does not match the ID card (score 41.00)" && after == .imported)
        #expect(s.candidates["2022110002"]?.identity?.stage == .rejectedByBackend)
        // A stale answer (for a replaced photo) is refused.
        _ = try upload(&s, 3)
        expectRefusal(&s, .failedPrecondition, "uploaded another photo") { s throws(RosterError) in
            _ = try s.recordFaceComparison(examNumber: "2022110003", photoSHA256: photoDigest(77), backend: "face-v1", match: true,
                                           score: nil, reason: nil, now: t)
        }
    }

    @Test func eventsCarryNoSecrets() throws {
        var s = try seeded(2)
        var all = try upload(&s, 1)
        all += try s.confirm(tokenDigest: digest(1), now: inWindow)
        all += s.tick(now: windowCloses)
        let json = String(decoding: try JSONEncoder().encode(all), as: UTF8.self)
        #expect(!json.contains(candidateRow(1).id) && !json.contains(digest(1)) && !json.contains(candidateRow(1).phone))
        #expect(all.map(\.topic) == ["roster.candidate.photo_uploaded", "roster.candidate.confirmed",
                                     "roster.candidate.forfeited", "roster.confirmation.closed"])
    }
}
