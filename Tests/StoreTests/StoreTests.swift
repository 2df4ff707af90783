import Bus
import ExamContracts
import Foundation
import GRDB
import Logging
import ServiceKit
import Store
import TestSupport
import Testing

@Suite("store")
struct StoreTests {
    @Test func createsWithAStreamAndKeepsItAcrossOpens() throws {
        let dir = try temporaryFolder("store")
        let path = dir + "/s.sqlite"
        let a = try ServiceStore(path: path)
        #expect(a.stream.count == 36)
        let b = try ServiceStore(path: path)
        #expect(b.stream == a.stream)
        let mode = try a.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
        let sync = try a.read { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(sync == 2)  // FULL
    }

    @Test func runsServiceMigrationsOnceInOrder() throws {
        let dir = try temporaryFolder("store")
        let path = dir + "/s.sqlite"
        let migrations = [
            Migration("svc-0001-things") { db in try db.execute(sql: "CREATE TABLE things (id INTEGER PRIMARY KEY)") },
            Migration("svc-0002-name") { db in try db.execute(sql: "ALTER TABLE things ADD COLUMN name TEXT") },
        ]
        let s = try ServiceStore(path: path, migrations: migrations)
        try s.write { db in try db.execute(sql: "INSERT INTO things(id, name) VALUES (1, 'a')") }
        let again = try ServiceStore(path: path, migrations: migrations)
        #expect(try again.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM things") } == 1)
    }

    @Test func refusesAStoreWrittenByANewerVersion() throws {
        let dir = try temporaryFolder("store")
        let path = dir + "/s.sqlite"
        _ = try ServiceStore(path: path, migrations: [Migration("svc-0001") { _ in }, Migration("svc-0002") { _ in }])
        #expect(throws: StoreError.self) { try ServiceStore(path: path, migrations: [Migration("svc-0001") { _ in }]) }
    }

    @Test func outboxReplaysInOrderFilteredAndPaged() throws {
        let s = try ServiceStore(path: try temporaryFolder("store") + "/s.sqlite")
        try s.write { db in
            try ServiceStore.append((1...10).map { OutboxRecord(seq: UInt64($0), topic: $0 % 2 == 0 ? "a.even" : "b.odd",
                                                                payloadType: "t", payload: [UInt8($0)], serverTimeMs: 0) }, in: db)
        }
        #expect(try s.headSeq() == 10)
        let all = try s.replay(afterSeq: 3, prefixes: [], limit: 4)
        #expect(all.records.map(\.seq) == [4, 5, 6, 7])
        #expect(all.through == 7)
        #expect(all.head == 10)
        let even = try s.replay(afterSeq: 0, prefixes: ["a."], limit: 100)
        #expect(even.records.map(\.seq) == [2, 4, 6, 8, 10])
        #expect(even.through == 10)
        #expect(even.records.first?.payload == [2])
    }

    @Test func seqIsUniqueInTheOutbox() throws {
        let s = try ServiceStore(path: try temporaryFolder("store") + "/s.sqlite")
        let r = OutboxRecord(seq: 1, topic: "t", payloadType: "p", payload: [], serverTimeMs: 0)
        try s.write { db in try ServiceStore.append([r], in: db) }
        #expect(throws: (any Error).self) { try s.write { db in try ServiceStore.append([r], in: db) } }
    }

    @Test func cursorsAndDocumentsRoundTrip() throws {
        let s = try ServiceStore(path: try temporaryFolder("store") + "/s.sqlite")
        struct Doc: Codable, Equatable { var name: String; var n: Int }
        try s.write { db in
            try ServiceStore.setCursor(publisher: "roster", stream: "x", seq: 5, in: db)
            try ServiceStore.setCursor(publisher: "roster", stream: "x", seq: 9, in: db)
            try ServiceStore.put(Doc(name: "张三", n: 1), kind: "c", key: "k1", nowMs: 0, in: db)
            try ServiceStore.put(Doc(name: "李四", n: 2), kind: "c", key: "k2", nowMs: 0, in: db)
            try ServiceStore.delete(kind: "c", key: "k1", in: db)
        }
        #expect(try s.cursor(publisher: "roster")?.seq == 9)
        #expect(try s.cursor(publisher: "timing") == nil)
        #expect(try s.documents(Doc.self, kind: "c").map(\.value) == [Doc(name: "李四", n: 2)])
    }

    @Test func backupOfAnOpenStoreIsACompleteCopy() throws {
        let dir = try temporaryFolder("store")
        let s = try ServiceStore(path: dir + "/s.sqlite")
        try s.write { db in
            try ServiceStore.append([OutboxRecord(seq: 1, topic: "t", payloadType: "p", payload: [1], serverTimeMs: 0)], in: db)
        }
        try s.backup(to: dir + "/copy.sqlite")
        let copy = try ServiceStore(path: dir + "/copy.sqlite")
        #expect(copy.stream == s.stream)
        #expect(try copy.headSeq() == 1)
        #expect(throws: StoreError.self) { try s.backup(to: dir + "/copy.sqlite") }
    }
}
