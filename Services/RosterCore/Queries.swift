import Foundation
import ExamPlan

/// A candidate for display (staff tools, the candidate's own page): the ID
/// number masked, no password material or sessions.
public struct CandidateView: Codable, Sendable, Equatable {
    public var examNumber: String
    public var name: String
    public var maskedIDNumber: String
    public var phone: String
    public var postCode: String
    public var postName: String
    public var writtenScore: Points
    public var status: CandidateStatus
    public var statusChangedAt: Date
    public var confirmedAt: Date?
    public var declinedAt: Date?
    public var declineReason: String?
    public var forfeitedAt: Date?
    public var forfeitReason: ForfeitReason?
    public var identity: IdentityRecord?
    public var identityStage: IdentityStage?
    public var lastRejection: IdentityDecision?
    public var passwordChanged: Bool
    public var lockedUntil: Date?
    /// R6: only confirmed candidates go on to the rooms.
    public var mayEnterRooms: Bool
    public var source: String
}

public struct CandidatePage: Codable, Sendable, Equatable {
    public var items: [CandidateView]
    /// Matching candidates in all pages.
    public var total: Int
    /// The offset of the next page; nil on the last.
    public var nextOffset: Int?
}

/// An entry of the proctors' review queue (R4).
public struct ReviewItem: Codable, Sendable, Equatable {
    public var examNumber: String
    public var name: String
    public var maskedIDNumber: String
    public var postCode: String
    public var status: CandidateStatus
    public var photo: PhotoFacts
    public var uploadedAt: Date
    public var checksPassed: [IdentityCheck]
    public var checksOpen: [IdentityCheck]
}

public struct PostView: Codable, Sendable, Equatable {
    public var code: String
    public var name: String
    public var places: Int
    public var candidates: Int
    public var confirmed: Int
}

extension RosterState {
    public static let maxPageSize = 1000

    public func view(_ c: Candidate) -> CandidateView {
        CandidateView(examNumber: c.examNumber, name: c.name, maskedIDNumber: c.maskedIDNumber, phone: c.phone,
                      postCode: c.postCode, postName: posts[c.postCode]?.name ?? "", writtenScore: c.writtenScore,
                      status: c.status, statusChangedAt: c.statusChangedAt, confirmedAt: c.confirmedAt,
                      declinedAt: c.declinedAt, declineReason: c.declineReason, forfeitedAt: c.forfeitedAt,
                      forfeitReason: c.forfeitReason, identity: c.identity, identityStage: c.identity?.stage,
                      lastRejection: c.lastRejection, passwordChanged: c.account.password != nil,
                      lockedUntil: c.account.lockedUntil, mayEnterRooms: c.status.mayEnterRooms, source: c.source)
    }

    /// One candidate by exam number (notFound if absent).
    public func candidateView(examNumber: String) throws(RosterError) -> CandidateView {
        view(try candidate(examNumber))
    }

    /// Candidates with `status` and/or in `postCode` (nil: any), ordered by
    /// exam number, `limit` (1...1000) from `offset`.
    public func list(status: CandidateStatus? = nil, postCode: String? = nil, offset: Int = 0, limit: Int = 100) throws(RosterError) -> CandidatePage {
        guard offset >= 0 else { throw .invalid("offset \(offset) is negative") }
        guard (1...Self.maxPageSize).contains(limit) else { throw .invalid("limit \(limit) is not between 1 and \(Self.maxPageSize)") }
        if let postCode, posts[postCode] == nil { throw .notFound("no post with code '\(postCode)'") }
        let matching = candidates.values.filter { c in
            (status == nil || c.status == status) && (postCode == nil || c.postCode == postCode)
        }.sorted { $0.examNumber < $1.examNumber }
        let page = matching.dropFirst(offset).prefix(limit).map(view)
        let next = offset + page.count
        return CandidatePage(items: page, total: matching.count, nextOffset: next < matching.count ? next : nil)
    }

    /// How many candidates have each status (every status present, 0 too),
    /// in all posts or in one.
    public func countsByStatus(postCode: String? = nil) -> [CandidateStatus: Int] {
        var out = Dictionary(uniqueKeysWithValues: CandidateStatus.allCases.map { ($0, 0) })
        for c in candidates.values where postCode == nil || c.postCode == postCode { out[c.status, default: 0] += 1 }
        return out
    }

    /// Photos waiting for a decision (R4), oldest upload first (ties by exam
    /// number): of candidates with a photo not yet confirmed, and confirmed
    /// candidates. Unconfirmed candidates leave it when the window ends.
    public func reviewQueue() -> [ReviewItem] {
        candidates.values.compactMap { c -> ReviewItem? in
            guard let id = c.identity, id.decision == nil else { return nil }
            switch c.status {
            case .confirmed: break
            case .photoUploaded where meta.closure == nil: break
            default: return nil
            }
            return ReviewItem(examNumber: c.examNumber, name: c.name, maskedIDNumber: c.maskedIDNumber, postCode: c.postCode,
                              status: c.status, photo: id.photo, uploadedAt: id.uploadedAt,
                              checksPassed: id.checksPassed, checksOpen: id.checksOpen)
        }.sorted { ($0.uploadedAt, $0.examNumber) < ($1.uploadedAt, $1.examNumber) }
    }

    /// The posts with their places and how many candidates each has, by code.
    public func postViews() -> [PostView] {
        var total: [String: Int] = [:], confirmed: [String: Int] = [:]
        for c in candidates.values {
            total[c.postCode, default: 0] += 1
            if c.status == .confirmed { confirmed[c.postCode, default: 0] += 1 }
        }
        return posts.values.sorted { $0.code < $1.code }.map {
            PostView(code: $0.code, name: $0.name, places: $0.places, candidates: total[$0.code] ?? 0, confirmed: confirmed[$0.code] ?? 0)
        }
    }
}
