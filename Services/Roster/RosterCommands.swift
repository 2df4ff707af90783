import ArgumentParser
import Bus
import ExamContracts
import ExamPlan
import Foundation
import ServiceKit

/// Options of the ops/proctor commands: the mesh file and who acts.
struct ClientOptions: ParsableArguments {
    @Option(help: "Mesh file (env EXAM_MESH).")
    var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"

    @Option(help: "Who acts (staff id).")
    var actor: String = ProcessInfo.processInfo.environment["EXAM_ACTOR"] ?? "ops"

    @Option(help: "Role: ops, proctor or chief_examiner.")
    var role: String = "ops"

    func connect() throws -> MeshClient {
        let roles: [String: ActorRole] = ["ops": .ops, "proctor": .proctor, "chief_examiner": .chiefExaminer, "examiner": .examiner]
        guard let r = roles[role] else { throw ValidationError("--role: '\(role)' is not ops, proctor, examiner or chief_examiner") }
        return try MeshClient(meshPath: mesh, caller: "roster-cli", member: "examctl", principal: CallPrincipal(id: actor, role: r))
    }
}

func statusName(_ s: ExamContracts.CandidateStatus) -> String {
    switch s {
    case .imported: "imported"
    case .confirmed: "confirmed"
    case .declined: "declined"
    case .forfeited: "forfeited"
    case .unspecified: "-"
    }
}

struct ImportList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import the qualified-candidate list (CSV, UTF-8, attachment 1 of the notice) into a running roster (R1).",
        discussion: "A file with any bad row is refused whole, with every error by line and column; the same file again changes nothing.")
    @OptionGroup var client: ClientOptions
    @Argument(help: "The CSV file.") var file: String

    func run() async throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
        let lines = data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        print("read \(file): \(data.count) bytes, about \(max(0, lines - 1)) rows; sending to roster for checking...")
        let m = try client.connect()
        defer { m.close() }
        let start = ContinuousClock.now
        do {
            let r = try await m.call("roster", RosterAPI.import, ImportRequest(csv: data, fileName: (file as NSString).lastPathComponent),
                                     timeout: .seconds(300))
            let took = ContinuousClock.now - start
            print("checked and stored in \(took): \(r.rows) rows: \(r.imported) new, \(r.updated) updated, \(r.unchanged) unchanged")
            for p in r.posts { print("  post \(p.code) \(p.name): \(p.places) places, \(p.candidates) candidates") }
        } catch {
            throw commandFailure(error)
        }
    }
}

struct ListCandidates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List candidates by status and post (ID and phone masked).")
    @OptionGroup var client: ClientOptions
    @Option(help: "imported, confirmed, declined or forfeited.") var status: String?
    @Option(help: "Post code.") var post: String?
    @Option(help: "How many.") var limit = 100

    func run() async throws {
        let statuses: [String: ExamContracts.CandidateStatus] = ["imported": .imported, "confirmed": .confirmed, "declined": .declined, "forfeited": .forfeited]
        var s = ExamContracts.CandidateStatus.unspecified
        if let status {
            guard let v = statuses[status] else { throw ValidationError("--status: '\(status)' is not one of \(statuses.keys.sorted().joined(separator: ", "))") }
            s = v
        }
        let m = try client.connect()
        defer { m.close() }
        do {
            let r = try await m.call("roster", RosterAPI.listCandidates,
                                     ListCandidatesRequest(status: s, postCode: post ?? "", limit: UInt32(limit)))
            for c in r.candidates {
                print("\(c.examNumber)  \(c.name.padding(toLength: 6, withPad: "　", startingAt: 0))  \(c.idNumberMasked)  \(c.postCode)  \(statusName(c.status).padding(toLength: 10, withPad: " ", startingAt: 0))  identity \(c.identity.map { "\($0.status)" } ?? "none")")
            }
            print("\(r.candidates.count) of \(r.total)")
        } catch {
            throw commandFailure(error)
        }
    }
}

struct Counts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Candidates by status and post, and the review queue's length.")
    @OptionGroup var client: ClientOptions

    func run() async throws {
        let m = try client.connect()
        defer { m.close() }
        do {
            let r = try await m.call("roster", RosterAPI.counts, CountsRequest())
            print("\(r.total) candidates; \(r.pendingReview) photos waiting for review")
            for s in r.byStatus { print("  \(statusName(s.status).padding(toLength: 10, withPad: " ", startingAt: 0)) \(s.count)") }
            for p in r.posts { print("  post \(p.code) \(p.name): \(p.places) places, \(p.candidates) candidates") }
        } catch {
            throw commandFailure(error)
        }
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One candidate's record (ID and phone masked).")
    @OptionGroup var client: ClientOptions
    @Argument(help: "Exam number.") var examNumber: String

    func run() async throws {
        let m = try client.connect()
        defer { m.close() }
        do {
            let c = try await m.call("roster", RosterAPI.getCandidate, CandidateRef(examNumber: examNumber))
            print(ProtoJSON.json(c))
        } catch {
            throw commandFailure(error)
        }
    }
}

struct Review: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The ID photo review queue (R4): list it, approve or reject (with a reason), save a photo to look at.")
    @OptionGroup var client: ClientOptions
    @Option(help: "Approve this candidate's photo.") var approve: String?
    @Option(help: "Reject this candidate's photo (needs --reason).") var reject: String?
    @Option(help: "Why the photo is rejected.") var reason: String?
    @Option(help: "Save this candidate's photo to --to.") var save: String?
    @Option(help: "Where to save the photo.") var to: String?

    func run() async throws {
        let m = try client.connect()
        defer { m.close() }
        do {
            if let exam = approve ?? reject {
                let c = try await m.call("roster", RosterAPI.reviewPhoto,
                                         ReviewPhotoRequest(examNumber: exam, approve: approve != nil, reason: reason ?? ""))
                print("\(c.examNumber): identity \(c.identity.map { "\($0.status)" } ?? "none"), status \(statusName(c.status))")
            } else if let exam = save {
                guard let to else { throw ValidationError("--save needs --to FILE") }
                let p = try await m.call("roster", RosterAPI.getPhoto, CandidateRef(examNumber: exam))
                try p.photo.write(to: URL(fileURLWithPath: to))
                print("saved \(exam)'s \(p.format) photo (\(p.photo.count) bytes) to \(to)")
            } else {
                let q = try await m.call("roster", RosterAPI.reviewQueue, ReviewQueueRequest(limit: 100))
                for c in q.candidates {
                    let id = c.identity
                    print("\(c.examNumber)  \(c.name)  \(c.idNumberMasked)  \(id?.format ?? "") \(id?.width ?? 0)x\(id?.height ?? 0)  uploaded \(BeijingTime.short(Date(unixMs: id?.uploadedAtMs ?? 0)))")
                }
                print("\(q.candidates.count) waiting")
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            throw commandFailure(error)
        }
    }
}
