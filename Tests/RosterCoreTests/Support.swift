import Foundation
import Testing
import ExamPlan
@testable import RosterCore

// Fixed Beijing times of the notice (R3: confirmation 17 Nov 09:00-16:00).

func bj(_ text: String, ms: Int = 0) -> Date {
    guard let d = BeijingTime.parse(text) else { fatalError("bad test time \(text)") }
    return d.addingTimeInterval(Double(ms) / 1000)
}

let beforeWindow = bj("2022-11-16 10:00:00")
let windowOpens = bj("2022-11-17 09:00:00")
let inWindow = bj("2022-11-17 10:00:00")
let windowCloses = bj("2022-11-17 16:00:00")
let lastMillisecond = bj("2022-11-17 15:59:59", ms: 999)

func testPlan(opens: Date = windowOpens, closes: Date = windowCloses) -> ExamPlan {
    ExamPlan(exam: "2022 市南区社区专职工作者招聘面试",
             confirmation: TimeWindow(opens: opens, closes: closes),
             mockEntry: TimeWindow(opens: bj("2022-11-18 08:50:00"), closes: bj("2022-11-18 09:00:00")),
             formalEntry: TimeWindow(opens: bj("2022-11-19 11:00:00"), closes: bj("2022-11-19 11:10:00")),
             publication: bj("2022-11-21 09:00:00"), interview: InterviewDurations(),
             rooms: [ExamRoom(id: "R01", name: "第一考场", panel: [Examiner(id: "E01", name: "王考官", chief: true)],
                              candidates: ["2022110001"])])
}

/// A valid GB 11643-1999 number: 17 digits and the computed check character
/// (weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, map "10X98765432").
func residentID(birth: String = "19900101", seq: Int, region: String = "370202") -> String {
    let body = region + birth + String(format: "%03d", seq % 1000)
    return body + String(checkCharacter(body))
}

func checkCharacter(_ body17: String) -> Character {
    let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    let sum = zip(body17.map { Int(String($0))! }, weights).reduce(0) { $0 + $1.0 * $1.1 }
    return Array("10X98765432")[sum % 11]
}

/// One row of attachment 1.
struct Row {
    var exam: String
    var name: String
    var id: String
    var phone: String
    var post = "P01"
    var postName = "社区专职工作者A"
    var score = "85.50"
    var places = "2"

    var fields: [String] { [exam, name, id, phone, post, postName, score, places] }
}

func candidateRow(_ i: Int, post: String = "P01", places: String = "2") -> Row {
    Row(exam: String(format: "20221100%02d", i), name: "考生\(i)", id: residentID(seq: i),
        phone: String(format: "138%08d", i), post: post, postName: post == "P01" ? "社区专职工作者A" : "社区专职工作者B",
        score: "8\(i % 10).50", places: places)
}

let englishHeader = "exam_number,name,id_number,phone,post_code,post_name,written_score,places"

func csvField(_ s: String) -> String {
    s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
}

func csv(_ rows: [Row], header: String = englishHeader, eol: String = "\n") -> Data {
    Data(([header] + rows.map { $0.fields.map(csvField).joined(separator: ",") }).joined(separator: eol).appending(eol).utf8)
}

struct FakeHasher: PasswordHashing {
    var scheme = "fake-fnv"
    func hash(_ password: String, salt: [UInt8]) -> [UInt8] {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var out: [UInt8] = []
        for round in 0..<4 {
            for b in salt + Array(password.utf8) + [UInt8(round)] { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
            out += withUnsafeBytes(of: h.bigEndian, Array.init)
        }
        return out
    }
}

let hasher = FakeHasher()
let salt = [UInt8](repeating: 7, count: 16)

func digest(_ n: Int) -> String { String(format: "%064x", n) }

/// A state with candidates 1...count in P01 (and `extra` in P02), plan set.
func seeded(_ count: Int = 4, plan: Bool = true) throws -> RosterState {
    var s = RosterState()
    _ = try s.importCSV(csv((1...count).map { candidateRow($0) }), fileName: "list.csv", now: beforeWindow)
    if plan { _ = try s.setPlan(testPlan(), now: beforeWindow) }
    return s
}

/// Logs candidate `i` in with the default password; returns the token digest.
@discardableResult
func logIn(_ s: inout RosterState, _ i: Int, token: Int? = nil, now: Date = inWindow) throws -> String {
    let t = digest(token ?? i)
    let r = candidateRow(i)
    _ = try s.login(phone: r.phone, password: String(r.id.suffix(6)), tokenDigest: t, now: now, hasher: hasher).session()
    return t
}

/// Runs a call that must be refused: checks the code, an optional fragment
/// of the message, and that nothing changed (durable state and look-ups).
@discardableResult
func expectRefusal(_ state: inout RosterState, _ code: RosterError.Code, _ fragment: String? = nil,
                   sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: (inout RosterState) throws(RosterError) -> Void) -> RosterError? {
    let before = state
    do {
        try body(&state)
        Issue.record("expected a \(code) refusal", sourceLocation: sourceLocation)
        return nil
    } catch {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        if let fragment { #expect(error.message.contains(fragment), "\(error.message)", sourceLocation: sourceLocation) }
        #expect(state == before, "a refused call changed the state", sourceLocation: sourceLocation)
        #expect(state.byPhone == before.byPhone && state.byIDNumber == before.byIDNumber
                && state.bySession == before.bySession && state.byPhoto == before.byPhoto,
                "a refused call changed a look-up", sourceLocation: sourceLocation)
        return error
    }
}

// MARK: - Tiny images

func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

func pngChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    let t = Array(type.utf8)
    return be32(data.count) + t + data + be32(Int(CRC32.checksum(t + data)))
}

/// A structurally valid PNG: signature, IHDR, a padding tEXt chunk (to pass
/// the 20 KB minimum), an IDAT and IEND. Pixel data is not decoded by R4.
func png(width: Int = 1200, height: Int = 800, colourType: UInt8 = 2, depth: UInt8 = 8, padding: Int = 21_000, seed: UInt8 = 0) -> Data {
    var b: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    b += pngChunk("IHDR", be32(width) + be32(height) + [depth, colourType, 0, 0, 0])
    if padding > 0 { b += pngChunk("tEXt", Array("Comment\u{0}".utf8) + [UInt8](repeating: 0x41 &+ seed, count: padding)) }
    b += pngChunk("IDAT", [0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, seed])
    b += pngChunk("IEND", [])
    return Data(b)
}

/// A structurally valid baseline JPEG: SOI, APP0, COM padding, DQT, SOF0,
/// DHT, SOS with entropy data holding FF00 stuffing and a restart marker, EOI.
func jpeg(width: Int = 1200, height: Int = 800, components: Int = 3, sof: UInt8 = 0xC0, padding: Int = 21_000, seed: UInt8 = 0) -> Data {
    var b: [UInt8] = [0xFF, 0xD8]
    b += [0xFF, 0xE0, 0x00, 0x10] + Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1, 0, 1, 0, 0]
    var left = padding
    while left > 0 {
        let k = min(left, 60_000)
        b += [0xFF, 0xFE] + [UInt8((k + 2) >> 8), UInt8((k + 2) & 0xFF)] + [UInt8](repeating: 0x20 &+ seed, count: k)
        left -= k
    }
    b += [0xFF, 0xDB, 0x00, 0x43, 0x00] + [UInt8](repeating: 1, count: 64)
    let sofLength = 8 + 3 * components
    b += [0xFF, sof, UInt8(sofLength >> 8), UInt8(sofLength & 0xFF), 8, UInt8(height >> 8), UInt8(height & 0xFF),
          UInt8(width >> 8), UInt8(width & 0xFF), UInt8(components)]
    for c in 0..<components { b += [UInt8(c + 1), 0x11, 0] }
    b += [0xFF, 0xC4, 0x00, 0x03, 0x00]
    let sosLength = 6 + 2 * components
    b += [0xFF, 0xDA, UInt8(sosLength >> 8), UInt8(sosLength & 0xFF), UInt8(components)]
    for c in 0..<components { b += [UInt8(c + 1), 0x00] }
    b += [0x00, 0x3F, 0x00]
    b += [0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD0, 0x78, seed, 0xFF, 0xFF, 0xD9]
    return Data(b)
}

/// The lower-case hex digest the shell would compute; a stand-in is enough
/// for the core, which only compares them.
func photoDigest(_ n: Int) -> String { String(format: "%064x", 0xABC000 + n) }
