import Foundation

/// Runs the network tools (`ip`, `nft`, `tc`) and says what failed.
public struct NetCommandError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

enum Command {
    /// Where Debian keeps `ip`, `nft` and `tc`, whatever the caller's PATH.
    static func find(_ tool: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for dir in path + ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
            let candidate = (dir as NSString).appendingPathComponent(tool)
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs `tool arguments` (with `input` on stdin); returns stdout, throws
    /// with stderr when it exits non-zero.
    @discardableResult
    static func run(_ tool: String, _ arguments: [String], input: String? = nil) throws -> String {
        guard let exe = find(tool) else { throw NetCommandError(description: "\(tool) is not installed (Debian: iproute2, nftables)") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let stdin = input.map { _ in Pipe() }
        if let stdin { p.standardInput = stdin } else { p.standardInput = FileHandle.nullDevice }
        try p.run()
        if let stdin, let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        // Both pipes read to their end before waiting: neither can fill and block the tool.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            let text = String(decoding: errData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw NetCommandError(description: "\(tool) \(arguments.joined(separator: " ")): exit \(p.terminationStatus): \(text)")
        }
        return String(decoding: outData, as: UTF8.self)
    }

    /// The same, its failure ignored (tearing down what may be gone already).
    static func quietly(_ tool: String, _ arguments: [String]) {
        _ = try? run(tool, arguments)
    }
}
