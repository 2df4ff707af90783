import Foundation
import Testing
import ExamPlan
@testable import RosterCore

/// Queries: a candidate, lists by status and post, counts, posts.
@Suite struct QueryTests {
    func state() throws -> RosterState {
        var s = RosterState()
        let rows = (1...7).map { candidateRow($0) } + (8...10).map { candidateRow($0, post: "P02", places: "1") }
        _ = try s.importCSV(csv(rows), fileName: "list.csv", now: beforeWindow)
        _ = try s.setPlan(testPlan(), now: beforeWindow)
        for i in [2, 5, 9] {
            let t = try logIn(&s, i)
            _ = try s.uploadPhoto(tokenDigest: t, photo: png(seed: UInt8(i)), fileName: "a.png", sha256: photoDigest(i), now: inWindow)
            _ = try s.confirm(tokenDigest: t, now: inWindow)
        }
        _ = try s.decline(tokenDigest: try logIn(&s, 3), now: inWindow)
        return s
    }

    @Test func oneCandidateWithAMaskedID() throws {
        var s = try state()
        let v = try s.candidateView(examNumber: "2022110002")
        let id = candidateRow(2).id
        #expect(v.maskedIDNumber == String(id.prefix(6)) + "********" + String(id.suffix(4)))
        #expect(v.status == .confirmed && v.mayEnterRooms && v.postName == "社区专职工作者A" && v.identityStage == .awaitingReview)
        #expect(v.writtenScore == Points(hundredths: 8250) && v.passwordChanged == false)
        expectRefusal(&s, .notFound, "no candidate with exam number 'X'") { s throws(RosterError) in _ = try s.candidateView(examNumber: "X") }
    }

    @Test func listsByStatusAndPostWithPaging() throws {
        var s = try state()
        let confirmed = try s.list(status: .confirmed)
        #expect(confirmed.items.map(\.examNumber) == ["2022110002", "2022110005", "2022110009"] && confirmed.total == 3 && confirmed.nextOffset == nil)
        #expect(try s.list(status: .confirmed, postCode: "P02").items.map(\.examNumber) == ["2022110009"])
        let p1 = try s.list(postCode: "P01", offset: 0, limit: 3)
        #expect(p1.items.map(\.examNumber) == ["2022110001", "2022110002", "2022110003"] && p1.total == 7 && p1.nextOffset == 3)
        let p2 = try s.list(postCode: "P01", offset: 3, limit: 3)
        #expect(p2.items.map(\.examNumber) == ["2022110004", "2022110005", "2022110006"] && p2.nextOffset == 6)
        let p3 = try s.list(postCode: "P01", offset: 6, limit: 3)
        #expect(p3.items.map(\.examNumber) == ["2022110007"] && p3.nextOffset == nil)
        #expect(try s.list(offset: 50).items.isEmpty)
        expectRefusal(&s, .invalidArgument, "limit 0") { s throws(RosterError) in _ = try s.list(limit: 0) }
        expectRefusal(&s, .invalidArgument, "limit 1001") { s throws(RosterError) in _ = try s.list(limit: 1001) }
        expectRefusal(&s, .invalidArgument, "offset -1") { s throws(RosterError) in _ = try s.list(offset: -1) }
        expectRefusal(&s, .notFound, "no post with code 'P9'") { s throws(RosterError) in _ = try s.list(postCode: "P9") }
    }

    @Test func countsAndPosts() throws {
        let s = try state()
        #expect(s.countsByStatus() == [.imported: 6, .photoUploaded: 0, .confirmed: 3, .declined: 1, .forfeited: 0])
        #expect(s.countsByStatus(postCode: "P02") == [.imported: 2, .photoUploaded: 0, .confirmed: 1, .declined: 0, .forfeited: 0])
        #expect(s.postViews() == [PostView(code: "P01", name: "社区专职工作者A", places: 2, candidates: 7, confirmed: 2),
                                  PostView(code: "P02", name: "社区专职工作者B", places: 1, candidates: 3, confirmed: 1)])
    }

    @Test func configDefaultsAndProblems() {
        let c = RosterConfig()
        #expect(c.minPasswordLength == 8 && c.maxFailures == 5 && c.lockSeconds == 900 && c.sessionSeconds == 7200)
        #expect(c.photo.minBytes == 20 * 1024 && c.photo.maxBytes == 5 * 1024 * 1024)
        #expect(c.photo.minLongSide == 300 && c.photo.minShortSide == 200 && c.photo.maxSide == 8000)
        #expect(c.problems().isEmpty)
        var bad = c
        bad.maxFailures = 0
        bad.photo.maxBytes = 10
        #expect(bad.problems() == ["maxFailures: 0 is not positive", "photo: byte bounds 20480...10 are empty"])
    }

    @Test func errorCodesMapToGRPC() {
        #expect(RosterError.Code.allCases.map(\.grpcStatus) == [3, 5, 6, 9, 7, 16, 8])
    }
}
