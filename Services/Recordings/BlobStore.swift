import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where chunk bytes live: outside SQLite, named by their SHA-256 (R37).
/// `put` returns only once the bytes are durable, and a blob is visible
/// under its name only whole: a reader never sees half of one.
///
/// The embedded default is `LocalBlobStore` (a folder beside the store).
/// An S3-compatible object store fits the same five calls: `put` is a
/// PutObject of key `blobs/<hash>` with `x-amz-checksum-sha256` (the store
/// refuses a body that does not match, and an object is visible only once
/// complete), `read` a GetObject (`nil` on NoSuchKey), `delete` a
/// DeleteObject, `list` ListObjectsV2 over the `blobs/` prefix, `contains`
/// a HeadObject.
protocol BlobStore: Sendable {
    /// Stores `bytes` under `sha256` (their hash, already checked), durably.
    /// A blob already there is kept (a repeat is stored once).
    func put(sha256: String, bytes: [UInt8]) throws
    /// The blob's bytes, nil when there is none.
    func read(sha256: String) throws -> [UInt8]?
    func contains(sha256: String) -> Bool
    func delete(sha256: String) throws
    /// Every stored blob's hash.
    func list() throws -> [String]
}

struct BlobStoreError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Blobs as files: `<root>/<first two hex digits>/<hash>`. Written to
/// `<root>/tmp/` first, fsync'd, renamed into place, the folder fsync'd;
/// at start, whatever `tmp/` holds (a write cut by a crash) is removed.
final class LocalBlobStore: BlobStore {
    let root: String
    let tmp: String

    init(root: String) throws {
        self.root = root
        tmp = root + "/tmp"
        let fm = FileManager.default
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        for name in (try? fm.contentsOfDirectory(atPath: tmp)) ?? [] {
            try? fm.removeItem(atPath: tmp + "/" + name)
        }
        var created = false
        for i in 0..<256 {
            let shard = root + "/" + String(format: "%02x", i)
            if !fm.fileExists(atPath: shard) {
                try fm.createDirectory(atPath: shard, withIntermediateDirectories: false)
                created = true
            }
        }
        if created { try Self.syncDirectory(root) }
        try Self.syncDirectory(tmp)
    }

    func path(_ sha256: String) -> String { root + "/" + sha256.prefix(2) + "/" + sha256 }

    static func valid(_ sha256: String) -> Bool {
        sha256.utf8.count == 64 && sha256.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    func put(sha256: String, bytes: [UInt8]) throws {
        guard Self.valid(sha256) else { throw BlobStoreError("blob name '\(sha256)' is not a SHA-256") }
        let final = path(sha256)
        if contains(sha256: sha256) {
            // Whole by construction (renamed only after its fsync); its
            // folder entry is made durable again in case a crash came
            // between the rename and the folder's fsync.
            try Self.syncDirectory(root + "/" + sha256.prefix(2))
            return
        }
        let temp = tmp + "/" + sha256 + "." + UUID().uuidString
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw BlobStoreError("cannot create \(temp): \(String(cString: strerror(errno)))") }
        var ok = false
        defer {
            if !ok { unlink(temp) }
        }
        do {
            defer { close(fd) }
            var written = 0
            try bytes.withUnsafeBytes { raw in
                while written < raw.count {
                    let n = write(fd, raw.baseAddress! + written, raw.count - written)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw BlobStoreError("cannot write \(temp): \(String(cString: strerror(errno)))")
                    }
                    written += n
                }
            }
            guard fsync(fd) == 0 else { throw BlobStoreError("cannot fsync \(temp): \(String(cString: strerror(errno)))") }
        }
        guard rename(temp, final) == 0 else { throw BlobStoreError("cannot rename \(temp) to \(final): \(String(cString: strerror(errno)))") }
        ok = true
        try Self.syncDirectory(root + "/" + sha256.prefix(2))
    }

    func read(sha256: String) throws -> [UInt8]? {
        guard Self.valid(sha256) else { return nil }
        let fd = open(path(sha256), O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw BlobStoreError("cannot open blob \(sha256): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw BlobStoreError("cannot stat blob \(sha256)") }
        let size = Int(st.st_size)
        var out = [UInt8](repeating: 0, count: size)
        var got = 0
        try out.withUnsafeMutableBytes { raw in
            while got < size {
                let n = Glibc.read(fd, raw.baseAddress! + got, size - got)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw BlobStoreError("cannot read blob \(sha256): \(String(cString: strerror(errno)))")
                }
                if n == 0 { break }
                got += n
            }
        }
        return got == size ? out : Array(out.prefix(got))
    }

    func contains(sha256: String) -> Bool {
        Self.valid(sha256) && access(path(sha256), F_OK) == 0
    }

    func delete(sha256: String) throws {
        guard Self.valid(sha256) else { return }
        if unlink(path(sha256)) != 0 && errno != ENOENT {
            throw BlobStoreError("cannot delete blob \(sha256): \(String(cString: strerror(errno)))")
        }
    }

    func list() throws -> [String] {
        var out: [String] = []
        for i in 0..<256 {
            let shard = root + "/" + String(format: "%02x", i)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: shard)) ?? [] where Self.valid(name) {
                out.append(name)
            }
        }
        return out.sorted()
    }

    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw BlobStoreError("cannot open folder \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw BlobStoreError("cannot fsync folder \(path): \(String(cString: strerror(errno)))") }
    }
}
