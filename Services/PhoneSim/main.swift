// phone-sim: plays candidates' two phones against a running mesh, from a
// scenario file (Shared/PhoneSim/Scenario.swift says the format). A client
// of the mesh like any phone: it says READY once every phone is registered
// and beating, stops on SIGTERM/SIGINT (or when its linger is over) and
// writes its JSON report on the way out.
import ArgumentParser
import Foundation
import Logging
import PhoneSim
import ServiceKit

@main
struct PhoneSimCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "phone-sim",
        abstract: "Plays candidates' main and secondary phones against a running mesh (R30-R35).")

    @Option(help: "Mesh file with every service's endpoints (env EXAM_MESH).")
    var mesh: String = ProcessInfo.processInfo.environment["EXAM_MESH"] ?? "compose/mesh.json"

    @Option(help: "The scenario (JSON): candidates, sittings, faults.")
    var scenario: String

    @Option(help: "Where to write the JSON report (default: the scenario's 'report', else <data>/<name>-report.json).")
    var report: String?

    @Option(help: "Name in the readiness line (READY <name> ...) and the logs: several simulators may play side by side.")
    var name = "phone-sim"

    @Option(help: "Data folder (the launcher passes it): the report goes there by default.")
    var data: String = ProcessInfo.processInfo.environment["EXAM_DATA"] ?? "data"

    @Option(help: "trace, debug, info, notice, warning, error or critical (env EXAM_LOG_LEVEL).")
    var logLevel: String = ProcessInfo.processInfo.environment["EXAM_LOG_LEVEL"] ?? "info"

    @Option(help: "text (one line for people) or json (one JSON object per line) (env EXAM_LOG_FORMAT).")
    var logFormat: String = ProcessInfo.processInfo.environment["EXAM_LOG_FORMAT"] ?? "text"

    @Option(help: "Record and upload every interview to recordings (R37): on, off, or scenario (its 'uploads' decides).")
    var uploads: String = "scenario"

    func validate() throws {
        guard ["on", "off", "scenario"].contains(uploads) else { throw ValidationError("--uploads: '\(uploads)' is not on, off or scenario") }
        do { _ = try LogFormat.parse(logFormat) } catch { throw ValidationError("--log-format: \(error)") }
    }

    func run() async throws {
        ExamLogHandler.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info, format: (try? LogFormat.parse(logFormat)) ?? .text)
        let logger = Logger(label: name)
        var script: PhoneScenario
        do { script = try PhoneScenario.load(path: scenario) } catch { throw ValidationError("\(error)") }
        if uploads == "on" && script.uploads == nil { script.uploads = UploadSettings() }
        if uploads == "off" { script.uploads = nil }
        let reportPath = report ?? script.report ?? (data as NSString).appendingPathComponent("\(name)-report.json")
        let client = try PhoneSimulator.meshClient(meshPath: mesh)
        let simulator = PhoneSimulator(scenario: script, mesh: client, logger: logger)

        Task {
            let signal = await waitForTerminationSignal()
            simulator.requestStop(signal == SIGINT ? "SIGINT" : "SIGTERM")
        }
        watchParent(simulator)
        let outcome = await simulator.run { [name] ready in
            FileHandle.standardOutput.write(Data("READY \(name) \(ready)\n".utf8))
        }
        var code: Int32 = 0
        do {
            try outcome.write(to: reportPath)
            logger.info("report written", metadata: ["path": "\(reportPath)", "heartbeats": "\(outcome.heartbeatsSent)",
                                                     "reason": "\(outcome.stopReason)"])
        } catch {
            logger.error("cannot write the report", metadata: ["path": "\(reportPath)", "error": "\(error)"])
            code = 1
        }
        client.close()
        Foundation.exit(code)
    }

    /// Started by a launcher: stop when it is gone, so a crashed test run
    /// leaves no simulator behind (as the services do).
    func watchParent(_ simulator: PhoneSimulator) {
        onParentGone { simulator.requestStop("launcher gone") }
    }
}
