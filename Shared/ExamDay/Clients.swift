import Bus
import DemoKit
import ExamContracts
import ExamPlan
import Foundation
import ServiceKit

/// What a candidate's phone client does against the mesh (the WeChat
/// mini-program in the notice): log in, upload the ID photo, confirm or
/// decline, enter the rooms, reveal the question, end early.
public struct CandidateClient: Sendable {
    public let mesh: MeshClient
    public let candidate: DemoCandidate
    public let token: String

    public var examNumber: String { candidate.examNumber }
    var me: CallPrincipal { CallPrincipal(id: candidate.examNumber, role: .candidate) }

    public static func login(_ mesh: MeshClient, _ c: DemoCandidate, password: String? = nil) async throws -> CandidateClient {
        let r = try await mesh.call("roster", RosterAPI.login, LoginRequest(phone: c.phone, password: password ?? c.defaultPassword),
                                    as: CallPrincipal(id: c.examNumber, role: .candidate))
        return CandidateClient(mesh: mesh, candidate: c, token: r.token)
    }

    /// `compact`: a smaller photo (about 38 KB instead of 230 KB), for days of thousands.
    public func uploadPhoto(seed: UInt64? = nil, compact: Bool = false) async throws -> ExamContracts.CandidateView {
        let seed = seed ?? UInt64(candidate.examNumber) ?? 1
        let photo = compact ? SyntheticPhoto.blockyPNG(seed: seed) : SyntheticPhoto.png(seed: seed)
        return try await mesh.call("roster", RosterAPI.uploadIdPhoto,
                                   UploadIdPhotoRequest(token: token, photo: photo, fileName: "\(examNumber).png"), as: me)
    }

    public func confirm() async throws -> ExamContracts.CandidateView {
        try await mesh.call("roster", RosterAPI.confirm, TokenRequest(token: token), as: me)
    }

    /// Photo, then the second explicit confirm (R3).
    public func confirmWithPhoto() async throws -> ExamContracts.CandidateView {
        _ = try await uploadPhoto()
        return try await confirm()
    }

    public func decline() async throws -> ExamContracts.CandidateView {
        try await mesh.call("roster", RosterAPI.decline, TokenRequest(token: token), as: me)
    }

    public func deviceID(_ channel: Channel) -> String { "\(examNumber)-\(channel == .main ? "main" : "secondary")" }

    public func enter(_ sitting: SittingKind, _ channel: Channel) async throws -> CandidateTimingView {
        try await mesh.call("timing", TimingAPI.enter,
                            EnterRequest(token: token, sitting: sitting, channel: channel, deviceId: deviceID(channel)), as: me)
    }

    public func leave(_ sitting: SittingKind, _ channel: Channel) async throws -> CandidateTimingView {
        try await mesh.call("timing", TimingAPI.leave,
                            LeaveRequest(token: token, sitting: sitting, channel: channel, deviceId: deviceID(channel)), as: me)
    }

    public func revealQuestion(_ sitting: SittingKind) async throws -> InterviewInfo {
        try await mesh.call("timing", TimingAPI.revealQuestion,
                            CandidateInterviewRequest(token: token, sitting: sitting, deviceId: deviceID(.main)), as: me)
    }

    public func endInterview(_ sitting: SittingKind) async throws -> InterviewInfo {
        try await mesh.call("timing", TimingAPI.endInterview,
                            CandidateInterviewRequest(token: token, sitting: sitting, deviceId: deviceID(.main)), as: me)
    }
}

/// What staff do: proctors screen and run the rooms, examiners score, the
/// chief examiner decides incidents and seals, ops import and publish.
public struct Staff: Sendable {
    public let mesh: MeshClient
    public init(mesh: MeshClient) { self.mesh = mesh }

    public static let ops = CallPrincipal(id: "ops", role: .ops)
    public static func proctor(_ room: String) -> CallPrincipal { CallPrincipal(id: "\(room)-P1", role: .proctor) }
    public static func chief(_ room: String) -> CallPrincipal { CallPrincipal(id: "\(room)-E1", role: .chiefExaminer) }
    public static func examiner(_ id: String) -> CallPrincipal { CallPrincipal(id: id, role: .examiner) }

    public func importRoster(_ csv: Data, fileName: String = "roster.csv") async throws -> ImportReply {
        try await mesh.call("roster", RosterAPI.import, ImportRequest(csv: csv, fileName: fileName), timeout: .seconds(120), as: Self.ops)
    }

    public func plan() async throws -> ExamPlan {
        try ExamPlan(info: try await mesh.call("timing", TimingAPI.getPlan, GetPlanRequest()))
    }

    /// Identity and the room checklist, all passed unless `failing` says
    /// which item failed (R13).
    public func screen(_ examNumber: String, room: String, _ sitting: SittingKind,
                       failing: ChecklistItemKind? = nil, note: String = "") async throws -> CandidateTimingView {
        let items: [ChecklistItemKind] = [.aloneInClosedRoomWithOneDoor, .deskOnlyBlankA4AndBlackPen, .noEarphonesOrHeadset, .noMask,
                                          .noSmartWatchOrBand, .noOtherElectronicDevices, .noBeautyFilterVirtualBackgroundOrBacklight,
                                          .faceAndEarsVisible]
        let checklist = items.map { ChecklistResult(item: $0, passed: $0 != failing, note: $0 == failing ? note : "") }
        return try await mesh.call("timing", TimingAPI.recordScreening,
                                   ScreeningRequest(examNumber: examNumber, sitting: sitting, identityConfirmed: true, checklist: checklist),
                                   as: Self.proctor(room))
    }

    /// "Start, read the question" for the room's next ready candidate (R14).
    public func startNext(room: String, _ sitting: SittingKind) async throws -> InterviewInfo {
        try await mesh.call("timing", TimingAPI.startInterview, StartInterviewRequest(roomId: room, sitting: sitting), as: Self.proctor(room))
    }

    public func room(_ room: String, _ sitting: SittingKind) async throws -> RoomInfo {
        try await mesh.call("timing", TimingAPI.getRoom, RoomRequest(roomId: room, sitting: sitting))
    }

    public func endRoom(_ room: String, _ sitting: SittingKind) async throws -> RoomInfo {
        try await mesh.call("timing", TimingAPI.endRoom, RoomRequest(roomId: room, sitting: sitting), as: Self.proctor(room))
    }

    public func report(_ examNumber: String, ground: UInt32, evidence: String, room: String, requestID: String = "") async throws -> IncidentView {
        try await mesh.call("discipline", DisciplineAPI.report,
                            ReportRequest(examNumber: examNumber, ground: ground, evidence: evidence, sitting: .formal, requestId: requestID),
                            as: Self.proctor(room))
    }

    public func decide(_ incident: String, disqualify: Bool, reason: String, room: String) async throws -> DecisionView {
        try await mesh.call("discipline", DisciplineAPI.decide,
                            DecideRequest(incidentId: incident, outcome: disqualify ? .disqualify : .dismiss, reason: reason),
                            as: Self.chief(room))
    }

    public func score(_ examNumber: String, examiner: String, _ score: String) async throws -> CandidateScores {
        try await mesh.call("scoring", ScoringAPI.submitScore, SubmitScoreRequest(examNumber: examNumber, score: score),
                            as: Self.examiner(examiner))
    }

    public func scores(_ examNumber: String) async throws -> CandidateScores {
        try await mesh.call("scoring", ScoringAPI.getScores, ScoringCandidateRef(examNumber: examNumber))
    }

    public func sealRoom(_ room: String) async throws -> SealReply {
        try await mesh.call("scoring", ScoringAPI.seal, SealRequest(roomId: room), as: Self.chief(room))
    }

    public func publish() async throws -> PublicationView {
        try await mesh.call("scoring", ScoringAPI.publish, PublishRequest(), as: Self.ops)
    }

    public func export(_ list: ListKind, _ format: ExportFormat) async throws -> ExportReply {
        try await mesh.call("scoring", ScoringAPI.export, ExportRequest(list: list, format: format))
    }
}

/// Waits for the wall clock to reach `date` (the exam's windows are clock
/// times; this waits for the clock, never for the system to catch up).
public func waitForClock(_ date: Date, slack: TimeInterval = 0.05) async throws {
    let wait = date.timeIntervalSinceNow + slack
    if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
}
