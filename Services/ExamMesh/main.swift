// exam-mesh: runs the mesh. `up` starts every service as its own process
// on the mesh file's endpoints with one data folder, waits until each says
// READY, and stops them all cleanly on Ctrl-C / SIGTERM.
import ArgumentParser
import Bus
import DemoKit
import ExamContracts
import ExamPlan
import Foundation
import ServiceKit

@main
struct ExamMeshCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exam-mesh",
        abstract: "Run the interview mesh: every service as a separate process.",
        subcommands: [Up.self, Generate.self],
        defaultSubcommand: Up.self)
}

struct LaunchOptions: ParsableArguments {
    @Option(help: "Mesh file (env EXAM_MESH).")
    var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"

    @Option(help: "Data folder: one SQLite store per service, and logs/ (env EXAM_DATA).")
    var data: String = ProcessInfo.processInfo.environment["EXAM_DATA"] ?? "data"

    @Option(parsing: .upToNextOption, help: "Services to start (default: every service of the mesh file).")
    var services: [String] = []

    @Option(parsing: .upToNextOption, help: "Extra arguments for one service: name=arg (repeatable).")
    var arg: [String] = []

    func specs(_ mesh: MeshConfig) throws -> [MeshLauncher.Spec] {
        let names = services.isEmpty ? mesh.services.keys.sorted() : services
        var extra: [String: [String]] = [:]
        for a in arg {
            let parts = a.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--arg takes service=argument, got '\(a)'") }
            extra[parts[0], default: []].append(parts[1])
        }
        return try names.map { n in
            guard mesh.services[n] != nil else { throw ValidationError("no service '\(n)' in \(self.mesh)") }
            return MeshLauncher.Spec(name: n, arguments: extra[n] ?? [])
        }
    }
}

struct Up: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Start the services and keep them running until Ctrl-C.")
    @OptionGroup var options: LaunchOptions

    func run() async throws {
        let mesh = try MeshConfig.load(path: options.mesh)
        let meshPath = URL(fileURLWithPath: options.mesh).standardizedFileURL.path
        let data = URL(fileURLWithPath: options.data).standardizedFileURL.path
        let launcher = try MeshLauncher(binDir: MeshLauncher.ownBinDir, dataDir: data, meshPath: meshPath)
        let specs = try options.specs(mesh)
        print("exam-mesh: starting \(specs.map(\.name).joined(separator: ", ")) (data \(data), logs \(launcher.logDir))")
        do {
            try await launcher.start(specs)
        } catch {
            print("exam-mesh: \(error)")
            await launcher.stopAll()
            throw ExitCode(1)
        }
        for s in specs {
            let e = mesh.services[s.name]!
            print("  \(s.name.padding(toLength: 11, withPad: " ", startingAt: 0)) ready  rpc \(e.rpc)  events \(e.events)  pid \(launcher.pid(s.name) ?? 0)")
        }
        print("exam-mesh: all ready at \(BeijingTime.iso(Date())); Ctrl-C stops them")
        _ = await waitForTerminationSignal()
        print("exam-mesh: stopping")
        await launcher.stopAll()
        print("exam-mesh: stopped")
    }
}

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic qualified-candidate list (CSV) and a plan that seats every candidate.",
        discussion: "The ID numbers pass GB 11643-1999 but belong to nobody. Times: Beijing (2022-11-19 11:00) or relative (+90s).")
    @Option(help: "How many candidates.") var count = 60
    @Option(help: "Candidates per room.") var roomSize = 10
    @Option(help: "Examiners per panel (the first is the chief).") var panel = 7
    @Option(help: "Seed of the generator (same seed, same people).") var seed: UInt64 = 20221117
    @Option(help: "Where to write the CSV.") var roster: String
    @Option(help: "Where to write the plan.") var plan: String
    @Flag(help: "The notice's real dates (17/18/19/21 Nov 2022, 5+5 minutes, staff turn) instead of a short demo relative to timing's start.")
    var notice = false

    @Option(help: "Demo plan: seconds from timing's first start until confirmation opens (time to import the list).")
    var opensIn = 20

    @Option(help: "Demo plan: seconds each window lasts (confirmation, mock entry, formal entry).")
    var window = 20

    @Option(help: "Demo plan: reading and answering seconds each.")
    var phase = 10

    func run() throws {
        let r = DemoRoster(count: count, seed: seed)
        try r.csv().write(to: URL(fileURLWithPath: roster))
        let json: String
        if notice {
            json = r.planJSON(roomSize: roomSize, confirmation: ("2022-11-17 09:00", "2022-11-17 16:00"),
                              mockEntry: ("2022-11-18 08:50", "2022-11-18 09:00"), formalEntry: ("2022-11-19 11:00", "2022-11-19 11:10"),
                              publication: "2022-11-21 09:00", readingSeconds: 300, answeringSeconds: 300, answeringTurn: "staff",
                              panelSize: panel, exam: "2022 市南区社区专职工作者公开招聘面试")
        } else {
            // Confirmation, then the mock entry with time for its interviews,
            // then the formal entry; publication after the last could end.
            let c0 = opensIn, c1 = c0 + window
            let m0 = c1 + 2, m1 = m0 + window
            let f0 = m1 + 2 * phase * roomSize + 5, f1 = f0 + window
            let pub = f1 + 2 * phase * roomSize + 60
            json = r.planJSON(roomSize: roomSize, confirmation: ("+\(c0)s", "+\(c1)s"), mockEntry: ("+\(m0)s", "+\(m1)s"),
                              formalEntry: ("+\(f0)s", "+\(f1)s"), publication: "+\(pub)s", readingSeconds: phase,
                              answeringSeconds: phase, panelSize: panel)
        }
        try Data(json.utf8).write(to: URL(fileURLWithPath: plan))
        print("wrote \(r.candidates.count) candidates in \(r.posts.count) posts to \(roster), and a plan with \((count + roomSize - 1) / roomSize) rooms to \(plan)")
    }
}
