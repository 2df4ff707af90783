import Foundation

/// A wait that gives up: the bound on waiting for something that should
/// happen, never a sleep that orders things.
public struct TimedOut: Error, CustomStringConvertible {
    public let what: String
    public var description: String { "timed out waiting for \(what)" }
}

public func within<T: Sendable>(_ limit: Duration, _ what: String,
                                _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(what: what) }
        return value
    }
}

/// A fresh folder under /tmp (short: Unix socket paths are limited to 107 bytes).
public func temporaryFolder(_ tag: String) throws -> String {
    let path = "/tmp/exam-\(tag)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Where SwiftPM put the executables (beside the test bundle).
public var executablesFolder: String {
    if let dir = ProcessInfo.processInfo.environment["EXAM_BIN_DIR"] { return dir }
    var path = CommandLine.arguments[0]
    if !path.hasPrefix("/") { path = FileManager.default.currentDirectoryPath + "/" + path }
    // .../debug/ExamMeshPackageTests.xctest
    var url = URL(fileURLWithPath: path)
    while url.pathComponents.count > 1 {
        url.deleteLastPathComponent()
        if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("bus-probe").path) { return url.path }
    }
    return URL(fileURLWithPath: path).deletingLastPathComponent().path
}

/// The repository's root (for files like compose/ and scripts/).
public func repositoryRoot(_ file: String = #filePath) -> String {
    var url = URL(fileURLWithPath: file)
    while url.pathComponents.count > 1 {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}

/// Runs a command to its end on a thread of its own and returns its status
/// and output (stdout and stderr). Reading a pipe to its end and waiting for
/// a process block a thread: on the cooperative pool (two threads on two
/// cores) that would stall every other test of the run while the command
/// runs (a bus test timed out behind `gen-protos --check` under load).
public func runCommand(_ executable: String, _ arguments: [String], in folder: String? = nil,
                       environment: [String: String]? = nil) async throws -> (status: Int32, output: String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            do {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: executable)
                p.arguments = arguments
                if let folder { p.currentDirectoryURL = URL(fileURLWithPath: folder) }
                if let environment { p.environment = environment }
                let out = Pipe()
                p.standardOutput = out
                p.standardError = out
                try p.run()
                let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                p.waitUntilExit()
                continuation.resume(returning: (p.terminationStatus, text))
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}

/// `n` distinct free TCP ports on 127.0.0.1 (held together while picked).
public func freeLoopbackPorts(_ n: Int) throws -> [Int] {
    var fds: [Int32] = []
    defer { for fd in fds { close(fd) } }
    var ports: [Int] = []
    for _ in 0..<n {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        fds.append(fd)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        ports.append(Int(UInt16(bigEndian: addr.sin_port)))
    }
    return ports
}
