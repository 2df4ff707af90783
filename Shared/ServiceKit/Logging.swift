import ExamPlan
import Foundation
import Logging

/// One line per record on standard error: Beijing time, level, service,
/// message, then key=value metadata. Standard output is kept for the
/// readiness line.
public struct ExamLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        var line = "\(BeijingTime.iso(Date())) \(event.level) \(label): \(event.message)"
        for (k, v) in all.sorted(by: { $0.key < $1.key }) { line += " \(k)=\(v)" }
        line += "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Sets up swift-log for the process (once).
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in ExamLogHandler(label: label, level: level) }
    }
}
