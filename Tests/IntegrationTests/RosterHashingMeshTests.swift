import Bus
import DemoKit
import ExamContracts
import ExamDay
import Foundation
import ServiceKit
import Synchronization
import TestSupport
import Testing

/// Issue 15: candidates' password hashes run off roster's state thread, on a
/// bounded pool (`--hash-workers`, `--hash-queue`): other calls are answered
/// during a burst of logins, and a flood beyond the queue is refused at once
/// (RESOURCE_EXHAUSTED) rather than waiting without bound.
@Suite("roster: password hashes off the state thread (R2)", .serialized)
struct RosterHashingMeshTests {
    @Test func otherCallsAreAnsweredDuringALoginBurstAndAFloodIsRefused() async throws {
        let h = try MeshHarness(tag: "roster-hash", services: ["roster"])
        // One worker and a queue of 6: a burst of 7 fits, more does not.
        try await h.start("roster", ["--scrypt-n", "16384", "--hash-workers", "1", "--hash-queue", "6"])
        let people = DemoRoster(count: 20, seed: 15)
        let staff = Staff(mesh: h.tools)
        _ = try await staff.importRoster(people.csv())
        let clock = ContinuousClock()

        // Candidate 0 changes the password (its login then costs a hash).
        let c0 = people.candidates[0]
        let first = try await CandidateClient.login(h.tools, c0)
        _ = try await h.call("roster", RosterAPI.changePassword,
                             ChangePasswordRequest(token: first.token, oldPassword: c0.defaultPassword, newPassword: "Sesame-2022-ok"),
                             as: CallPrincipal(id: c0.examNumber, role: .candidate))

        // An unknown phone costs a (dummy) hash too, and is refused like a wrong password.
        let t0 = clock.now
        await #expect(throws: RPCError(.unauthenticated, "手机号或密码错误")) {
            _ = try await h.call("roster", RosterAPI.login, LoginRequest(phone: "13999999999", password: "123456"))
        }
        let oneHash = clock.now - t0

        // A burst of 7 slow logins (the changed password, unknown phones):
        // meanwhile Counts is answered, before the burst is done.
        let burstStart = clock.now
        async let burst: ([String], ContinuousClock.Instant) = withThrowingTaskGroup(of: String.self) { g in
            for k in 0..<7 {
                g.addTask {
                    do {
                        let r = try await h.call("roster", RosterAPI.login,
                                                 k == 0 ? LoginRequest(phone: c0.phone, password: "Sesame-2022-ok")
                                                        : LoginRequest(phone: "1399999990\(k)", password: "123456"),
                                                 timeout: .seconds(30))
                        return r.examNumber
                    } catch let e as RPCError { return e.code.name }
                }
            }
            var got: [String] = []
            for try await r in g { got.append(r) }
            return (got, clock.now)
        }
        try await Task.sleep(for: .milliseconds(20))
        let countsStart = clock.now
        let counts = try await h.call("roster", RosterAPI.counts, CountsRequest(), as: Staff.ops)
        let countsAnswered = clock.now
        let (got, burstEnd) = try await burst
        #expect(counts.total == 20)
        #expect(got.sorted() == [c0.examNumber] + Array(repeating: "UNAUTHENTICATED", count: 6), "\(got)")
        // Generous bounds relative to a hash: Counts does not wait for the
        // burst's hashes (7 of them, one at a time).
        #expect(countsAnswered < burstEnd, "Counts waited for the burst (\(countsAnswered - countsStart) vs \(burstEnd - burstStart))")
        #expect(countsAnswered - countsStart < (burstEnd - burstStart) / 2,
                "Counts took \(countsAnswered - countsStart); the burst \(burstEnd - burstStart), one hash \(oneHash)")

        // A flood of 30 at once: 1 running + 6 waiting at most; the rest are
        // told at once to come back, none waits without bound.
        let floodStart = clock.now
        let outcomes = try await withThrowingTaskGroup(of: RPCError?.self) { g in
            for k in 0..<30 {
                g.addTask {
                    do {
                        _ = try await h.call("roster", RosterAPI.login, LoginRequest(phone: "139888880\(10 + k)", password: "123456"),
                                             timeout: .seconds(30))
                        return nil
                    } catch let e as RPCError { return e }
                }
            }
            var all: [RPCError?] = []
            for try await o in g { all.append(o) }
            return all
        }
        let floodTook = clock.now - floodStart
        let exhausted = outcomes.compactMap { $0 }.filter { $0.code == .resourceExhausted }
        let wrong = outcomes.compactMap { $0 }.filter { $0.code == .unauthenticated }
        #expect(exhausted.count + wrong.count == 30, "\(outcomes)")
        #expect(exhausted.count >= 10, "only \(exhausted.count) refused")
        #expect(wrong.count >= 7, "\(wrong.count) hashed")
        #expect(exhausted.allSatisfy { $0.message.contains("正在排队") && $0.retryAfterMs >= 1000 }, "\(exhausted)")
        #expect(floodTook < oneHash * 30 + .seconds(5))
        // And roster still serves logins afterwards.
        _ = try await CandidateClient.login(h.tools, people.candidates[1])
        await h.shutdown()
    }

    /// Issue 22: 200 logins at once got 17 answers and 183 DEADLINE_EXCEEDED:
    /// the queue took them all and the caller's deadline fired before their
    /// turn. Now roster refuses at once, with when to come back, what it
    /// cannot hash before the call's deadline: a burst of 60 with a deadline
    /// about six hashes long gets answers and "come back in N ms", never a
    /// deadline.
    @Test func aBurstBeyondTheDeadlineIsToldToComeBackNotLeftToTimeOut() async throws {
        let h = try MeshHarness(tag: "roster-burst", services: ["roster"])
        // A cheap hash (the test is relative to it) and one worker: the
        // burst takes a few seconds of one core, not more (other tests run
        // beside it on a loaded machine).
        try await h.start("roster", ["--scrypt-n", "4096", "--hash-workers", "1", "--hash-queue", "1000"])
        let people = DemoRoster(count: 60, seed: 22)
        _ = try await Staff(mesh: h.tools).importRoster(people.csv())
        let clock = ContinuousClock()
        // One login's cost: the median of three (one sample on a loaded
        // machine may be far off either way).
        var samples: [Duration] = []
        for k in 0..<3 {
            let t0 = clock.now
            _ = try await CandidateClient.login(h.tools, people.candidates[k])
            samples.append(clock.now - t0)
        }
        let oneHash = samples.sorted()[1]
        let deadline = oneHash * 6 + .milliseconds(300)

        let outcomes = try await withThrowingTaskGroup(of: Result<String, RPCError>.self) { g in
            for c in people.candidates {
                g.addTask {
                    do {
                        return .success(try await h.call("roster", RosterAPI.login, LoginRequest(phone: c.phone, password: c.defaultPassword),
                                                          timeout: deadline).examNumber)
                    } catch let e as RPCError { return .failure(e) }
                }
            }
            var all: [Result<String, RPCError>] = []
            for try await o in g { all.append(o) }
            return all
        }
        let loggedIn = outcomes.compactMap { try? $0.get() }
        let refused = outcomes.compactMap { if case .failure(let e) = $0 { e } else { nil } }
        #expect(refused.allSatisfy { $0.code == .resourceExhausted && $0.retryAfterMs >= 1000 && $0.message.contains("正在排队") },
                "deadline \(deadline), one hash \(oneHash): \(refused.map(\.description).prefix(5))")
        #expect(!refused.contains { $0.code == .deadlineExceeded })
        #expect(loggedIn.count >= 1 && refused.count >= 10, "\(loggedIn.count) logged in, \(refused.count) refused")
        // Those told to come back get in when they do (the page's retry).
        var late = 0
        for c in people.candidates where !loggedIn.contains(c.examNumber) {
            _ = try await h.call("roster", RosterAPI.login, LoginRequest(phone: c.phone, password: c.defaultPassword), timeout: .seconds(30))
            late += 1
        }
        #expect(late + loggedIn.count == 60)
        await h.shutdown()
    }
}
