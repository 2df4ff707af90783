// timing-bench: the cost of one timing call as the roster grows (issue 15).
//
// For each roster size N (rooms of 50), a TimingState is built, everyone
// confirmed, and a formal sitting played: every candidate enters (both
// phones), the entry closes (absences, draws: a one-off), everyone is
// screened, then rounds of interviews run in every room at once (start,
// views, question revealed, the automatic turn to answering fired by tick,
// early end). Every call goes the way the shell runs it: tick, the
// operation, staging the changed documents (JSON-encoded, as the commit
// does), and the engine's question for the next deadline.
//
// The calls on the first rooms ("sample") are timed; the others run untimed
// so the state is a real one (all rooms interviewing, all timers pending).
// "after" is the code as it is: changed keys tracked by the document maps,
// timers in an index. "before" replays the old shell path around the same
// core: a copy of the state kept during the call (so each map's first write
// copies it whole, as the old transact and `let old = state.core` did), the
// whole-state diff `changes(since:)`, and the scan for the next deadline
// three times (the old tick, the operation's caught-up check, the engine).
//
//   swift build -c release --product timing-bench && .build/release/timing-bench
//   options: --sizes 1000,10000,20000  --sample-rooms 10  --before-rooms 2  --rounds 5  --no-before
import ExamPlan
import Foundation
import TimingCore

func argument(_ name: String) -> String? {
    let a = CommandLine.arguments
    guard let i = a.firstIndex(of: name), i + 1 < a.count else { return nil }
    return a[i + 1]
}

let sizes = (argument("--sizes") ?? "1000,10000,20000").split(separator: ",").compactMap { Int($0) }
let sampleRooms = Int(argument("--sample-rooms") ?? "") ?? 10
let beforeRooms = Int(argument("--before-rooms") ?? "") ?? 2
let rounds = Int(argument("--rounds") ?? "") ?? 5
let runBefore = !CommandLine.arguments.contains("--no-before")
let roomSize = 50

func at(_ text: String) -> Date { BeijingTime.parse(text)! }

func plan(candidates n: Int) -> ExamPlan {
    let roomCount = (n + roomSize - 1) / roomSize
    var rooms: [ExamRoom] = []
    for r in 0..<roomCount {
        let id = String(format: "R%05d", r + 1)
        let members = (r * roomSize..<min(n, (r + 1) * roomSize)).map { String(format: "2022%07d", $0 + 1) }
        rooms.append(ExamRoom(id: id, name: "考场 \(r + 1)",
                              panel: [Examiner(id: "E\(id)", name: "考官 \(r + 1)", chief: true)],
                              candidates: members, proctors: ["P\(id)"]))
    }
    return ExamPlan(exam: "timing-bench",
                    confirmation: TimeWindow(opens: at("2022-11-17 09:00"), closes: at("2022-11-17 16:00")),
                    mockEntry: TimeWindow(opens: at("2022-11-18 08:50"), closes: at("2022-11-18 09:00")),
                    formalEntry: TimeWindow(opens: at("2022-11-19 11:00"), closes: at("2022-11-19 11:10")),
                    publication: at("2022-11-25 09:00"),
                    interview: InterviewDurations(readingSeconds: 300, answeringSeconds: 300, answeringTurn: .automatic),
                    rooms: rooms)
}

enum Path: String { case after, before }

/// Per kind of call, the durations in nanoseconds.
struct Samples {
    var byKind: [String: [UInt64]] = [:]
    var order: [String] = []
    mutating func add(_ kind: String, _ ns: UInt64) {
        if byKind[kind] == nil { order.append(kind) }
        byKind[kind, default: []].append(ns)
    }
}

func percentile(_ xs: [UInt64], _ p: Double) -> Double {
    let s = xs.sorted()
    let i = min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))
    return Double(s[i]) / 1000
}

let encoder = JSONEncoder()
nonisolated(unsafe) var sink = 0   // keeps the optimizer from dropping work

/// Stages what changed the shell's way: the changed documents, JSON-encoded.
func stage(_ s: inout TimingState, _ c: TimingChanges) {
    for k in c.candidates { if let v = s.candidates[k] { sink &+= (try? encoder.encode(v))?.count ?? 0 } }
    for k in c.candidateSittings { if let v = s.candidateSittings[k] { sink &+= (try? encoder.encode(v))?.count ?? 0 } }
    for k in c.rooms { if let v = s.rooms[k] { sink &+= (try? encoder.encode(v))?.count ?? 0 } }
    for k in c.entries { if let v = s.entries[k] { sink &+= (try? encoder.encode(v))?.count ?? 0 } }
}

/// One call the way the shell runs it, timed into `samples` when `kind` is given.
func call(_ s: inout TimingState, _ path: Path, _ now: Date, _ samples: inout Samples, _ kind: String?,
          _ op: (inout TimingState) throws -> [TimingEvent]) {
    let t0 = DispatchTime.now().uptimeNanoseconds
    switch path {
    case .after:
        var events = s.tick(now: now, seed: 7)
        do { events += try op(&s) } catch { fatalError("\(kind ?? "call") refused: \(error)") }
        stage(&s, s.takeChanges())
        sink &+= events.count &+ (s.nextDeadline() == nil ? 0 : 1)
    case .before:
        let old = s
        sink &+= s.nextDeadlineByScan() == nil ? 0 : 1          // the old tick's scan
        var events = s.tick(now: now, seed: 7)
        sink &+= s.nextDeadlineByScan() == nil ? 0 : 1          // the operation's caught-up check
        do { events += try op(&s) } catch { fatalError("\(kind ?? "call") refused: \(error)") }
        stage(&s, s.changes(since: old))
        _ = s.takeChanges()
        sink &+= events.count &+ (s.nextDeadlineByScan() == nil ? 0 : 1)   // the engine's wake
        withExtendedLifetime(old) {}
    }
    let ns = DispatchTime.now().uptimeNanoseconds - t0
    if let kind { samples.add(kind, ns) }
}

/// A read-only query, timed.
func view(_ s: TimingState, _ samples: inout Samples, _ kind: String, _ body: (TimingState) throws -> Int) {
    let t0 = DispatchTime.now().uptimeNanoseconds
    sink &+= (try? body(s)) ?? 0
    samples.add(kind, DispatchTime.now().uptimeNanoseconds - t0)
}

func run(candidates n: Int, path: Path, timedRooms: Int) -> Samples {
    let p = plan(candidates: n)
    var s = try! TimingState(plan: p)
    for c in p.allCandidates { _ = try! s.applyRoster(examNumber: c, status: .confirmed, now: at("2022-11-17 10:00")) }
    _ = s.takeChanges()
    var samples = Samples()
    let timed = Set(p.rooms.prefix(timedRooms).map(\.id))
    func pathFor(_ room: String) -> Path { timed.contains(room) ? path : .after }

    // Entry: both phones of everyone.
    let opens = at("2022-11-19 11:00:05")
    call(&s, .after, opens, &samples, nil) { _ in [] }   // the mock sitting's transitions and the opening: one-offs
    for (i, room) in p.rooms.enumerated() {
        for (j, c) in room.candidates.enumerated() {
            let now = opens.addingTimeInterval(Double(i) * 0.5 + Double(j) * 0.005)
            let kind = timed.contains(room.id) ? "enter" : nil
            for ch in EntryChannel.allCases {
                call(&s, pathFor(room.id), now, &samples, kind) {
                    try $0.enter(examNumber: c, sitting: .formal, channel: ch, deviceID: "\(ch.rawValue)-\(c)", now: now)
                }
            }
        }
    }
    // The close (a one-off over all rooms: absences and draws), then screening.
    let close = at("2022-11-19 11:10")
    call(&s, .after, close, &samples, nil) { _ in [] }
    for (i, room) in p.rooms.enumerated() {
        for (j, c) in room.candidates.enumerated() {
            let now = close.addingTimeInterval(1 + Double(i) * 0.5 + Double(j) * 0.005)
            call(&s, pathFor(room.id), now, &samples, timed.contains(room.id) ? "screening" : nil) {
                try $0.recordScreening(examNumber: c, sitting: .formal, identityConfirmed: true,
                                       checks: ScreeningCheck.allPassed, proctor: "P\(room.id)", now: now)
            }
        }
    }
    // Rounds of interviews in every room at once, staggered by 10 ms.
    var t0 = at("2022-11-19 11:20")
    for _ in 0..<rounds {
        var current: [String: String] = [:]
        for (i, room) in p.rooms.enumerated() {
            let now = t0.addingTimeInterval(Double(i) * 0.01)
            let next = try! s.roomView(roomID: room.id, sitting: .formal, now: now).next!
            current[room.id] = next
            call(&s, pathFor(room.id), now, &samples, timed.contains(room.id) ? "start" : nil) {
                try $0.startInterview(roomID: room.id, sitting: .formal, examNumber: next, proctor: "P\(room.id)", now: now)
            }
        }
        for room in p.rooms where timed.contains(room.id) {
            let now = t0.addingTimeInterval(30)
            view(s, &samples, "getRoom") { try $0.roomView(roomID: room.id, sitting: .formal, now: now).queue.count }
            view(s, &samples, "candidate view") {
                try $0.candidateView(examNumber: current[room.id]!, sitting: .formal, now: now).blockers.count
            }
            call(&s, path, t0.addingTimeInterval(60), &samples, "reveal") {
                try $0.revealQuestion(examNumber: current[room.id]!, deviceID: "main-\(current[room.id]!)",
                                      now: t0.addingTimeInterval(60))
            }
        }
        // The automatic turn to answering: one room's reading end per tick.
        for (i, room) in p.rooms.enumerated() {
            let now = t0.addingTimeInterval(300.005 + Double(i) * 0.01)
            call(&s, pathFor(room.id), now, &samples, timed.contains(room.id) ? "tick (reading end)" : nil) { _ in [] }
        }
        for (i, room) in p.rooms.enumerated() {
            let now = t0.addingTimeInterval(400 + Double(i) * 0.01)
            let n = current[room.id]!
            call(&s, pathFor(room.id), now, &samples, timed.contains(room.id) ? "end early" : nil) {
                try $0.endInterview(examNumber: n, sitting: .formal, deviceID: "main-\(n)", now: now)
            }
        }
        t0 = t0.addingTimeInterval(600)
    }
    return samples
}

func fmt(_ x: Double) -> String { String(format: "%9.1f", x) }

print("timing-bench: µs per call (tick + operation + staging + next deadline), rooms of \(roomSize), \(rounds) interview rounds")
print("sizes: \(sizes.map(String.init).joined(separator: ", ")); timed rooms: after \(sampleRooms), before \(beforeRooms)\n")
var results: [Path: [Int: Samples]] = [:]
for path in runBefore ? [Path.after, .before] : [.after] {
    for n in sizes {
        let start = Date()
        let r = run(candidates: n, path: path, timedRooms: path == .after ? sampleRooms : beforeRooms)
        results[path, default: [:]][n] = r
        print("  ran \(path.rawValue) N=\(n) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }
}
print("")
for path in runBefore ? [Path.after, .before] : [.after] {
    print(path == .after ? "AFTER (document maps + timer index)" : "BEFORE (copy + whole-state diff + scans)")
    let first = results[path]![sizes[0]]!
    var header = "  call                 "
    for n in sizes { header += String(format: " %9@ %9@", "p50@\(n)" as NSString, "p99@\(n)" as NSString) }
    if sizes.count > 1 { for n in sizes.dropFirst() { header += String(format: " %12@", "p50 \(n / 1000)k/\(sizes[0] / 1000)k" as NSString) } }
    print(header)
    for kind in first.order {
        var line = "  " + kind.padding(toLength: 20, withPad: " ", startingAt: 0)
        var medians: [Double] = []
        for n in sizes {
            let xs = results[path]![n]!.byKind[kind]!
            medians.append(percentile(xs, 0.5))
            line += " " + fmt(percentile(xs, 0.5)) + " " + fmt(percentile(xs, 0.99))
        }
        for m in medians.dropFirst() { line += String(format: " %12.2f", m / medians[0]) }
        print(line)
    }
    print("")
}
if sink == 42 { print("") }
