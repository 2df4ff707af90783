import Foundation
import GRDB

/// A numbered schema change of a service's store. Applied once, in order,
/// inside a transaction; never edited after it shipped (add a new one).
public struct Migration: Sendable {
    public let id: String
    public let apply: @Sendable (Database) throws -> Void
    public init(_ id: String, _ apply: @escaping @Sendable (Database) throws -> Void) {
        self.id = id
        self.apply = apply
    }
}

public struct StoreError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One event as the outbox keeps it (the publisher's durable copy).
public struct OutboxRecord: Sendable, Equatable {
    public var seq: UInt64
    public var topic: String
    public var payloadType: String
    public var payload: [UInt8]
    public var serverTimeMs: Int64

    public init(seq: UInt64, topic: String, payloadType: String, payload: [UInt8], serverTimeMs: Int64) {
        self.seq = seq
        self.topic = topic
        self.payloadType = payloadType
        self.payload = payload
        self.serverTimeMs = serverTimeMs
    }
}

/// A service's own SQLite file: WAL, synchronous=FULL (a commit that
/// returned is on disk), numbered migrations, the outbox of its events, the
/// positions of the streams it follows, and documents (its state, as JSON).
///
/// Only this library sets pragmas and runs migrations. Writes happen in
/// `write` transactions; the service engine groups many requests into one
/// (group commit), so a burst costs one fsync, not one per event.
public final class ServiceStore: Sendable {
    public let path: String
    /// Fixed when the file is created; names the outbox's seq numbering.
    public let stream: String
    let pool: DatabasePool

    /// The store's own tables, before any service migration.
    static let baseMigrations: [Migration] = [
        Migration("store-0001-outbox-cursors-documents") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                CREATE TABLE outbox (
                    seq INTEGER PRIMARY KEY NOT NULL,
                    topic TEXT NOT NULL,
                    payload_type TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    server_time_ms INTEGER NOT NULL);
                CREATE TABLE cursors (
                    publisher TEXT PRIMARY KEY NOT NULL,
                    stream TEXT NOT NULL,
                    seq INTEGER NOT NULL);
                CREATE TABLE documents (
                    kind TEXT NOT NULL,
                    key TEXT NOT NULL,
                    body BLOB NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    PRIMARY KEY (kind, key));
                """)
            try db.execute(sql: "INSERT INTO meta(key, value) VALUES ('stream', ?)",
                           arguments: [UUID().uuidString.lowercased()])
        },
    ]

    /// Opens (or creates) the store at `path` and brings its schema up to
    /// date. A file written by a newer version (migrations this one does not
    /// know) is refused rather than guessed at.
    public init(path: String, migrations: [Migration] = []) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        var config = Configuration()
        config.busyMode = .timeout(5)
        config.prepareDatabase { db in
            // Durable commits: an acknowledged change survives a crash or power loss.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch {
            throw StoreError("cannot open store \(path): \(error)")
        }
        var migrator = DatabaseMigrator()
        var seen = Set<String>()
        for m in Self.baseMigrations + migrations {
            precondition(seen.insert(m.id).inserted, "migration \(m.id) is declared twice")
            migrator.registerMigration(m.id) { db in try m.apply(db) }
        }
        let superseded = try pool.read { db in try migrator.hasBeenSuperseded(db) }
        if superseded {
            throw StoreError("store \(path) was written by a newer version (it has migrations this one does not know); refusing to open it")
        }
        try migrator.migrate(pool)
        stream = try pool.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'stream'") ?? ""
        }
    }

    // MARK: Transactions

    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.write(body)
    }

    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.read(body)
    }

    // MARK: Outbox

    public func headSeq() throws -> UInt64 {
        try pool.read { db in try Self.headSeq(db) }
    }

    static func headSeq(_ db: Database) throws -> UInt64 {
        UInt64(try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM outbox") ?? 0)
    }

    /// Appends events inside the caller's transaction: they are committed
    /// with the change they report, or not at all.
    public static func append(_ records: [OutboxRecord], in db: Database) throws {
        let stmt = try db.cachedStatement(sql: "INSERT INTO outbox(seq, topic, payload_type, payload, server_time_ms) VALUES (?, ?, ?, ?, ?)")
        for r in records {
            try stmt.execute(arguments: [Int64(r.seq), r.topic, r.payloadType, Data(r.payload), r.serverTimeMs])
        }
    }

    /// Events after `afterSeq` whose topic starts with one of `prefixes`
    /// (all when empty), at most `limit`; `through` is the last seq examined.
    public func replay(afterSeq: UInt64, prefixes: [String], limit: Int) throws
        -> (records: [OutboxRecord], through: UInt64, head: UInt64) {
        try pool.read { db in
            let head = try Self.headSeq(db)
            var records: [OutboxRecord] = []
            var through = afterSeq
            // Scan in pages so a filter that matches little still ends quickly.
            let scanLimit = prefixes.isEmpty ? limit : max(limit, 10_000)
            let rows = try Row.fetchCursor(db, sql: """
                SELECT seq, topic, payload_type, payload, server_time_ms FROM outbox
                WHERE seq > ? ORDER BY seq LIMIT ?
                """, arguments: [Int64(afterSeq), scanLimit])
            while let row = try rows.next() {
                let seq = UInt64(row["seq"] as Int64)
                let topic: String = row["topic"]
                if prefixes.isEmpty || prefixes.contains(where: { topic.hasPrefix($0) }) {
                    let payload: Data = row["payload"] ?? Data()
                    records.append(OutboxRecord(seq: seq, topic: topic, payloadType: row["payload_type"],
                                                payload: Array(payload), serverTimeMs: row["server_time_ms"]))
                }
                through = seq
                if records.count >= limit { break }
            }
            return (records, through, head)
        }
    }

    // MARK: Cursors of followed streams

    public func cursor(publisher: String) throws -> (stream: String, seq: UInt64)? {
        try pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT stream, seq FROM cursors WHERE publisher = ?", arguments: [publisher]) else { return nil }
            return (row["stream"], UInt64(row["seq"] as Int64))
        }
    }

    public static func setCursor(publisher: String, stream: String, seq: UInt64, in db: Database) throws {
        try db.execute(sql: """
            INSERT INTO cursors(publisher, stream, seq) VALUES (?, ?, ?)
            ON CONFLICT(publisher) DO UPDATE SET stream = excluded.stream, seq = excluded.seq
            """, arguments: [publisher, stream, Int64(seq)])
    }

    // MARK: Documents

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    public static func put<T: Encodable>(_ value: T, kind: String, key: String, nowMs: Int64, in db: Database) throws {
        let body = try encoder.encode(value)
        try db.execute(sql: """
            INSERT INTO documents(kind, key, body, updated_ms) VALUES (?, ?, ?, ?)
            ON CONFLICT(kind, key) DO UPDATE SET body = excluded.body, updated_ms = excluded.updated_ms
            """, arguments: [kind, key, body, nowMs])
    }

    public static func delete(kind: String, key: String, in db: Database) throws {
        try db.execute(sql: "DELETE FROM documents WHERE kind = ? AND key = ?", arguments: [kind, key])
    }

    public func documents<T: Decodable>(_ type: T.Type, kind: String) throws -> [(key: String, value: T)] {
        try pool.read { db in
            let decoder = JSONDecoder()
            return try Row.fetchAll(db, sql: "SELECT key, body FROM documents WHERE kind = ? ORDER BY key", arguments: [kind]).map { row in
                let key: String = row["key"]
                let body: Data = row["body"]
                do {
                    return (key, try decoder.decode(T.self, from: body))
                } catch {
                    throw StoreError("document \(kind)/\(key) in \(path) cannot be read: \(error)")
                }
            }
        }
    }

    public func document<T: Decodable>(_ type: T.Type, kind: String, key: String) throws -> T? {
        try pool.read { db in
            guard let body = try Data.fetchOne(db, sql: "SELECT body FROM documents WHERE kind = ? AND key = ?", arguments: [kind, key]) else { return nil }
            return try JSONDecoder().decode(T.self, from: body)
        }
    }

    // MARK: Operations

    /// A consistent copy of the running store (SQLite's online backup), for ops.
    public func backup(to destination: String) throws {
        if FileManager.default.fileExists(atPath: destination) {
            throw StoreError("backup target \(destination) exists; choose a new file")
        }
        let target = try DatabaseQueue(path: destination)
        try pool.backup(to: target)
    }

    /// Row counts of the store's tables, for `stats`.
    public func tableCounts() throws -> [String: Int64] {
        try pool.read { db in
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%' ORDER BY name")
            var out: [String: Int64] = [:]
            for t in tables {
                out[t] = try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM \"\(t)\"") ?? 0
            }
            return out
        }
    }
}
