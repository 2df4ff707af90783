import Foundation
import ServiceKit
import Synchronization

/// A command-line tool run by a test (proctor, phone-sim, examctl): its
/// stdout as a stream of lines, its exit awaited with a bound.
public final class ToolProcess: Sendable {
    public let lines: AsyncStream<String>
    let process: Process
    let exited = Latch()

    private static let everyProcess = Mutex<[Process]>([])

    public convenience init(_ executable: String, _ arguments: [String]) throws {
        try self.init(path: (executablesFolder as NSString).appendingPathComponent(executable), arguments)
    }

    /// Any program by its path (e.g. /bin/sh starting a tool the way a script would).
    public init(path exe: String, _ arguments: [String]) throws {
        let (lines, continuation) = AsyncStream<String>.makeStream()
        self.lines = lines
        process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["EXAM_PARENT_PID"] = String(getpid())   // the tool ends if the test process dies
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        let buffer = Mutex([UInt8]())
        out.fileHandleForReading.readabilityHandler = { h in
            let chunk = h.availableData
            if chunk.isEmpty {
                h.readabilityHandler = nil
                continuation.finish()
                return
            }
            let complete: [String] = buffer.withLock { b in
                b += chunk
                var found: [String] = []
                while let nl = b.firstIndex(of: 0x0A) {
                    found.append(String(decoding: b[..<nl], as: UTF8.self))
                    b.removeSubrange(...nl)
                }
                return found
            }
            for line in complete { continuation.yield(line) }
        }
        let done = exited
        process.terminationHandler = { _ in done.open() }
        try process.run()
        // Never released while Foundation may still be in its handlers (see MeshLauncher.retired).
        Self.everyProcess.withLock { $0.append(process) }
    }

    /// Runs a tool to its end and returns its output (stdout) and status.
    public static func run(_ executable: String, _ arguments: [String], within limit: Duration = .seconds(60)) async throws
        -> (output: [String], status: Int32) {
        let tool = try ToolProcess(executable, arguments)
        let output = try await within(limit, "\(executable) \(arguments.joined(separator: " "))") {
            var all: [String] = []
            for await line in tool.lines { all.append(line) }
            return all
        }
        return (output, try await tool.waitExit(within: limit))
    }

    public func terminate() { if process.isRunning { process.terminate() } }

    /// Its process id (a `/bin/sh -c 'exec ...'` keeps it for the program).
    public var pid: Int32 { process.processIdentifier }

    /// The exit status, waiting at most `limit`.
    public func waitExit(within limit: Duration = .seconds(10)) async throws -> Int32 {
        let ok = await exited.wait(timeout: limit)
        if !ok { throw TimedOut(what: "\(process.executableURL?.lastPathComponent ?? "tool") to exit") }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
