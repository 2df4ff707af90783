import Bus
import ExamContracts
import ExamPlan
import Foundation
import RosterCore
import ServiceKit

/// The core's values as protos/exam/v1/roster.proto has them. Nothing here
/// carries a full ID number, a phone number, a password or a token.
enum RosterWire {
    static func status(_ s: RosterCore.CandidateStatus) -> ExamContracts.CandidateStatus {
        switch s {
        case .imported, .photoUploaded: .imported
        case .confirmed: .confirmed
        case .declined: .declined
        case .forfeited: .forfeited
        }
    }

    static func coreStatuses(_ s: ExamContracts.CandidateStatus) -> [RosterCore.CandidateStatus?] {
        switch s {
        case .imported: [.imported, .photoUploaded]
        case .confirmed: [.confirmed]
        case .declined: [.declined]
        case .forfeited: [.forfeited]
        case .unspecified: [nil]
        }
    }

    static func maskPhone(_ p: String) -> String {
        p.count == 11 ? String(p.prefix(3)) + "****" + String(p.suffix(4)) : String(repeating: "*", count: p.count)
    }

    static func identity(_ r: IdentityRecord?) -> IdentityView? {
        guard let r else { return nil }
        let status: IdentityStatus
        switch r.stage {
        case .awaitingReview: status = .pendingReview
        case .approvedByBackend, .approvedByReviewer: status = .approved
        case .rejectedByBackend, .rejectedByReviewer: status = .rejected
        }
        let checks = r.checksPassed.map { PhotoCheck(name: $0.rawValue, passed: true) }
            + r.checksOpen.map { PhotoCheck(name: $0.rawValue, passed: false, detail: "not yet checked") }
        var decidedBy = ""
        if let d = r.decision {
            switch d.decider {
            case .backend(let name): decidedBy = name
            case .reviewer(let id): decidedBy = id
            }
        }
        return IdentityView(status: status, checks: checks, format: r.photo.format.rawValue, width: UInt32(r.photo.width),
                            height: UInt32(r.photo.height), bytes: UInt64(r.photo.byteCount), decidedBy: decidedBy,
                            reason: r.decision?.reason ?? "", uploadedAtMs: r.uploadedAt.unixMs,
                            decidedAtMs: r.decision?.at.unixMs ?? 0)
    }

    static func view(_ v: RosterCore.CandidateView) -> ExamContracts.CandidateView {
        var reason = v.declineReason ?? ""
        if let f = v.forfeitReason { reason = f.rawValue }
        return ExamContracts.CandidateView(
            examNumber: v.examNumber, name: v.name, idNumberMasked: v.maskedIDNumber, phoneMasked: maskPhone(v.phone),
            postCode: v.postCode, postName: v.postName, writtenScore: v.writtenScore.description, status: status(v.status),
            identity: identity(v.identity), statusChangedAtMs: v.statusChangedAt.unixMs, statusReason: reason,
            locked: v.lockedUntil.map { $0 > Date() } ?? false, lockedUntilMs: v.lockedUntil?.unixMs ?? 0)
    }

    static func view(_ state: RosterState, _ examNumber: String) throws -> ExamContracts.CandidateView {
        view(try RosterShell.op { try state.candidateView(examNumber: examNumber) })
    }

    static func posts(_ state: RosterState) -> [PostInfo] {
        state.postViews().map { PostInfo(code: $0.code, name: $0.name, places: UInt32($0.places), candidates: UInt32($0.candidates)) }
    }

    /// The candidate as followers see it, after the change.
    static func candidateEvent(_ state: RosterState, _ exam: String, reason: String = "", at: Date) -> CandidateEvent? {
        guard let c = state.candidates[exam] else { return nil }
        let post = state.posts[c.postCode]
        return CandidateEvent(examNumber: exam, name: c.name, idNumberMasked: c.maskedIDNumber, postCode: c.postCode,
                              postName: post?.name ?? "", postPlaces: UInt32(post?.places ?? 0),
                              writtenScore: c.writtenScore.description, status: status(c.status), reason: reason, atMs: at.unixMs)
    }

    static func identityEvent(_ exam: String, _ d: IdentityDecision?, status: IdentityStatus, checks: [PhotoCheck], at: Date) -> IdentityEvent {
        var by = ""
        if let d {
            switch d.decider {
            case .backend(let name): by = name
            case .reviewer(let id): by = id
            }
        }
        return IdentityEvent(examNumber: exam, status: status, decidedBy: by, reason: d?.reason ?? "", checks: checks, atMs: at.unixMs)
    }

    /// What to publish for a core event: topic and payload (sometimes two).
    static func payloads(_ e: RosterEvent, _ s: RosterState) -> [(String, any ProtoMessage)] {
        func candidate(_ exam: String, _ reason: String = "", _ at: Date) -> [(String, any ProtoMessage)] {
            candidateEvent(s, exam, reason: reason, at: at).map { [(e.topic, $0 as any ProtoMessage)] } ?? []
        }
        switch e {
        case .postDefined(let p, _), .postUpdated(let p, _, _):
            return [(e.topic, PostInfo(code: p.code, name: p.name, places: UInt32(p.places)))]
        case .candidateImported(let c, _, let at):
            return candidate(c.examNumber, "", at)
        case .candidateUpdated(let c, let changed, _, let at):
            return candidate(c.examNumber, "changed: " + changed.joined(separator: ", "), at)
        case .candidateRemoved(let exam, let post, let reason, _, let at):
            return [(e.topic, CandidateEvent(examNumber: exam, postCode: post, status: .unspecified, reason: reason, atMs: at.unixMs))]
        case .loggedIn(let exam, _, let at), .loggedOut(let exam, let at):
            return [(e.topic, AccountEvent(examNumber: exam, atMs: at.unixMs))]
        case .loginFailed(let exam, let failures, _, let at):
            return [(e.topic, AccountEvent(examNumber: exam, failures: UInt32(failures), atMs: at.unixMs))]
        case .accountLocked(let exam, let failures, let until, let at):
            return [(e.topic, AccountEvent(examNumber: exam, lockedUntilMs: until.unixMs, failures: UInt32(failures), atMs: at.unixMs))]
        case .passwordChanged(let exam, _, let at):
            return [(e.topic, AccountEvent(examNumber: exam, atMs: at.unixMs))]
        case .photoUploaded(let exam, _, _, let passed, let open, let at):
            let checks = passed.map { PhotoCheck(name: $0.rawValue, passed: true) } + open.map { PhotoCheck(name: $0.rawValue, passed: false, detail: "open") }
            return candidate(exam, "photo uploaded", at)
                + [("roster.identity.uploaded", identityEvent(exam, nil, status: .pendingReview, checks: checks, at: at))]
        case .identityApproved(let exam, _, let d, _):
            return [("roster.identity.approved", identityEvent(exam, d, status: .approved, checks: [], at: d.at))]
        case .identityRejected(let exam, _, let d, let before, let after):
            var out: [(String, any ProtoMessage)] = [("roster.identity.rejected", identityEvent(exam, d, status: .rejected, checks: [], at: d.at))]
            if status(before) != status(after), after != .forfeited, let c = candidateEvent(s, exam, reason: "identity rejected: \(d.reason ?? "")", at: d.at) {
                out.append(("roster.candidate.status", c))
            }
            return out
        case .confirmed(let exam, _, _, let at):
            return candidate(exam, "", at)
        case .declined(let exam, _, let reason, let at):
            return candidate(exam, reason ?? "declined", at)
        case .forfeited(let exam, _, let reason, let detail, let at, _):
            return candidate(exam, "\(reason.rawValue): \(detail)", at)
        case .planApplied(let exam, let w, let at):
            return [(e.topic, RosterNotice(kind: "plan_applied", detail: exam, window: PlanWindowRef(opensMs: w.opens.unixMs, closesMs: w.closes.unixMs), atMs: at.unixMs))]
        case .confirmationClosed(let w, let forfeited, let confirmed, let declined, let at):
            return [(e.topic, RosterNotice(kind: "confirmation_closed", detail: "confirmation window \(w.text) closed",
                                           window: PlanWindowRef(opensMs: w.opens.unixMs, closesMs: w.closes.unixMs),
                                           forfeited: UInt32(forfeited), confirmed: UInt32(confirmed), declined: UInt32(declined),
                                           atMs: at.unixMs))]
        }
    }
}
