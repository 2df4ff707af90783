import Foundation
import Synchronization

/// Starts services of the mesh as separate processes, waits for each one's
/// readiness line ("READY <name> ..."), and stops them: SIGTERM, then SIGKILL
/// if one does not exit within the bound. The `exam-mesh` command and the
/// integration tests use it.
public final class MeshLauncher: Sendable {
    public struct Spec: Sendable {
        public var name: String
        /// Executable name (found in `binDir`).
        public var executable: String
        public var arguments: [String]
        /// Started again (after a second) when it exits unasked, as compose's
        /// `restart: unless-stopped` does: the mesh's Janus instances (R64).
        public var restartOnExit: Bool
        public init(name: String, executable: String? = nil, arguments: [String] = [], restartOnExit: Bool = false) {
            self.name = name
            self.executable = executable ?? name
            self.arguments = arguments
            self.restartOnExit = restartOnExit
        }
    }

    public struct LaunchError: Error, CustomStringConvertible {
        public let description: String
    }

    final class Running: @unchecked Sendable {
        // `@unchecked`: Process is used from the launcher's callers and its
        // own termination handler; every field below is set once at start.
        let spec: Spec
        let process: Process
        let ready = Latch()
        let exited = Latch()
        let readyLine = Mutex<String?>(nil)
        /// Asked to stop (SIGTERM by `stop`, or SIGKILL by `signal`): not restarted.
        let stopping = Mutex(false)
        init(spec: Spec, process: Process) {
            self.spec = spec
            self.process = process
        }
    }

    public let binDir: String
    public let dataDir: String
    public let meshPath: String
    public let logDir: String
    /// What each member's command line starts with: nothing, or e.g.
    /// `ip netns exec NS` to run it on a host of its own (issue 16). The
    /// prefix must exec the program (not fork it), so signals reach it.
    public let prefix: @Sendable (String) -> [String]
    private let running = Mutex<[String: Running]>([:])
    /// Processes replaced by a restart, kept until the launcher goes: a
    /// Process released while Foundation still runs its termination handler
    /// or pipe reader crashes inside libdispatch (seen once, after a SIGKILL
    /// and an immediate restart).
    private let retired = Mutex<[Running]>([])

    /// Members whose CurveZMQ keys this launcher made: a mesh run on one
    /// host makes its own keys once, where the mesh file says (issue 16).
    public let keysMade: [String]

    public init(binDir: String, dataDir: String, meshPath: String, prefix: @escaping @Sendable (String) -> [String] = { _ in [] }) throws {
        self.binDir = binDir
        self.dataDir = dataDir
        self.meshPath = meshPath
        self.prefix = prefix
        logDir = (dataDir as NSString).appendingPathComponent("logs")
        try FileManager.default.createDirectory(atPath: logDir, withIntermediateDirectories: true)
        let config = try MeshConfig.load(path: meshPath)
        if let curve = config.curve {
            keysMade = try MeshKeys.ensure(dir: curve.keysDir, members: MeshKeys.members(of: config))
        } else {
            keysMade = []
        }
    }

    /// The folder of the running executable (where SwiftPM puts its siblings).
    public static var ownBinDir: String {
        (CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0]
            : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0]).deletingLastPathComponent
    }

    public func logPath(_ name: String) -> String { (logDir as NSString).appendingPathComponent("\(name).log") }

    /// Starts one service and returns once it said READY.
    @discardableResult
    public func start(_ spec: Spec, readyTimeout: Duration = .seconds(60)) async throws -> String {
        let exe = spec.executable.hasPrefix("/") ? spec.executable : (binDir as NSString).appendingPathComponent(spec.executable)
        guard FileManager.default.isExecutableFile(atPath: exe) else {
            throw LaunchError(description: "\(exe) is not an executable (build first: swift build)")
        }
        let process = Process()
        let arguments = ["--mesh", meshPath, "--data", dataDir] + spec.arguments
        let wrap = prefix(spec.name)
        process.executableURL = URL(fileURLWithPath: wrap.first ?? exe)
        process.arguments = wrap.isEmpty ? arguments : Array(wrap.dropFirst()) + [exe] + arguments
        var env = ProcessInfo.processInfo.environment
        env["EXAM_PARENT_PID"] = String(getpid())
        process.environment = env
        let out = Pipe()
        process.standardOutput = out
        let logFile = logPath(spec.name)
        if !FileManager.default.fileExists(atPath: logFile) { _ = FileManager.default.createFile(atPath: logFile, contents: nil) }
        guard let log = FileHandle(forWritingAtPath: logFile) else { throw LaunchError(description: "cannot write \(logFile)") }
        log.seekToEndOfFile()
        process.standardError = log
        let r = Running(spec: spec, process: process)
        let buffer = Mutex("")
        out.fileHandleForReading.readabilityHandler = { h in
            let chunk = h.availableData
            if chunk.isEmpty { h.readabilityHandler = nil; return }
            let lines: [String] = buffer.withLock { b in
                b += String(decoding: chunk, as: UTF8.self)
                var complete: [String] = []
                while let nl = b.firstIndex(of: "\n") {
                    complete.append(String(b[..<nl]))
                    b = String(b[b.index(after: nl)...])
                }
                return complete
            }
            for line in lines where line.hasPrefix("READY \(spec.name)") {
                r.readyLine.withLock { $0 = line }
                r.ready.open()
            }
        }
        process.terminationHandler = { [weak self] _ in
            r.ready.open()  // wakes a start still waiting: it sees the exit
            r.exited.open()
            if spec.restartOnExit, r.readyLine.withLock({ $0 }) != nil, !r.stopping.withLock({ $0 }), let self {
                Task {
                    try? await Task.sleep(for: .seconds(1))  // a restart's back-off, as compose's
                    guard !r.stopping.withLock({ $0 }), self.running.withLock({ $0[spec.name] === r }) else { return }
                    _ = try? await self.start(spec)
                }
            }
        }
        try process.run()
        running.withLock { all in
            if let old = all[spec.name] { retired.withLock { $0.append(old) } }
            all[spec.name] = r
        }
        let gotSignal = await r.ready.wait(timeout: readyTimeout)
        if let line = r.readyLine.withLock({ $0 }) { return line }
        if gotSignal {
            throw LaunchError(description: "\(spec.name) exited with status \(process.terminationStatus) before it was ready; last log lines:\n\(tail(logFile))")
        }
        process.interrupt()
        throw LaunchError(description: "\(spec.name) was not ready within \(readyTimeout); last log lines:\n\(tail(logFile))")
    }

    /// The mesh file's Janus instances (R64-R67), each a member started by
    /// compose/janus/janus-run (found above `binDir`, the repository's
    /// compose folder, or EXAM_JANUS_RUN).
    public static func janusSpecs(_ mesh: MeshConfig, binDir: String) throws -> [Spec] {
        guard let list = mesh.janus, !list.isEmpty else { return [] }
        let script = try janusRun(binDir: binDir)
        return list.map { Spec(name: $0.name, executable: script, arguments: ["--name", $0.name], restartOnExit: true) }
    }

    static func janusRun(binDir: String) throws -> String {
        if let p = ProcessInfo.processInfo.environment["EXAM_JANUS_RUN"], !p.isEmpty { return p }
        var dir = URL(fileURLWithPath: binDir).resolvingSymlinksInPath()
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent("compose/janus/janus-run").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        let here = FileManager.default.currentDirectoryPath + "/compose/janus/janus-run"
        if FileManager.default.isExecutableFile(atPath: here) { return here }
        throw LaunchError(description: "compose/janus/janus-run not found above \(binDir) nor here; set EXAM_JANUS_RUN")
    }

    /// Starts the mesh's Janus instances first (media drives them), then the
    /// services side by side.
    public func startWithMedia(_ mesh: MeshConfig, _ specs: [Spec]) async throws {
        let janus = try Self.janusSpecs(mesh, binDir: binDir).filter { j in !specs.contains { $0.name == j.name } }
        try await start(janus)
        try await start(specs)
    }

    /// Starts several services side by side.
    public func start(_ specs: [Spec]) async throws {
        try await withThrowingTaskGroup(of: String.self) { group in
            for s in specs { group.addTask { try await self.start(s) } }
            for try await _ in group {}
        }
    }

    public func isRunning(_ name: String) -> Bool {
        running.withLock { $0[name]?.process.isRunning ?? false }
    }

    /// The READY line `name` printed (its addresses), once it did.
    public func readyLine(_ name: String) -> String? { running.withLock { $0[name] }?.readyLine.withLock { $0 } }

    public func pid(_ name: String) -> Int32? { running.withLock { $0[name]?.process.processIdentifier } }

    /// Sends `sig` (SIGKILL to simulate a crash).
    public func signal(_ name: String, _ sig: Int32) {
        if let p = pid(name) { kill(p, sig) }
    }

    /// Waits for `name` to exit; returns its status, or nil after `timeout`.
    public func waitExit(_ name: String, timeout: Duration) async -> Int32? {
        guard let r = running.withLock({ $0[name] }) else { return nil }
        let ok = await r.exited.wait(timeout: timeout)
        return ok ? r.process.terminationStatus : nil
    }

    /// SIGTERM, then SIGKILL after `timeout`. Returns the exit status.
    @discardableResult
    public func stop(_ name: String, timeout: Duration = .seconds(15)) async -> Int32? {
        running.withLock { $0[name] }?.stopping.withLock { $0 = true }
        guard isRunning(name) else { return running.withLock { $0[name]?.process.terminationStatus } }
        signal(name, SIGTERM)
        if let status = await waitExit(name, timeout: timeout) { return status }
        signal(name, SIGKILL)
        return await waitExit(name, timeout: .seconds(5))
    }

    public func stopAll(timeout: Duration = .seconds(15)) async {
        let names = running.withLock { Array($0.keys) }
        await withTaskGroup(of: Void.self) { group in
            for n in names { group.addTask { _ = await self.stop(n, timeout: timeout) } }
        }
    }

    /// The last lines of a log file, for error messages.
    public func tail(_ path: String, lines: Int = 15) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

extension String {
    var deletingLastPathComponent: String { (self as NSString).deletingLastPathComponent }
}
