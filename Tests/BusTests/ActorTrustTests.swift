import Bus
import Testing

/// The trust policy on its own (issue 16): pure, no sockets.
@Suite struct ActorTrustTests {
    let trust = ActorTrust(roles: [
        "timing": [.service],
        "gateway": ActorTrust.staff.union([.candidate, .service]),
        "phone-sim": [.candidate],
        "stranger": [],
    ])

    @Test func aServiceAssertsServiceUnderItsOwnNameOnly() {
        #expect(trust.refusal(member: "timing", actor: CallPrincipal(id: "timing", role: .service)) == nil)
        #expect(trust.refusal(member: "timing", actor: CallPrincipal(id: "discipline", role: .service))
            == "mesh member 'timing' acts as a service only under its own name, not as 'discipline'")
        #expect(trust.refusal(member: "timing", actor: CallPrincipal(id: "chief-01", role: .chiefExaminer))
            == "mesh member 'timing' may not act as chief_examiner 'chief-01' (it may assert: service)")
    }

    @Test func theEdgeAssertsStaffAndCandidatesAPhoneOnlyCandidates() {
        for role in [ActorRole.proctor, .examiner, .chiefExaminer, .ops, .candidate] {
            #expect(trust.refusal(member: "gateway", actor: CallPrincipal(id: "x", role: role)) == nil)
        }
        #expect(trust.refusal(member: "phone-sim", actor: CallPrincipal(id: "2022110001", role: .candidate)) == nil)
        #expect(trust.refusal(member: "phone-sim", actor: CallPrincipal(id: "ops-1", role: .ops))?.contains("(it may assert: candidate)") == true)
    }

    @Test func noActorClaimsNothingAndAnUnknownOrMissingMemberAssertsNothing() {
        #expect(trust.refusal(member: nil, actor: .anonymous) == nil)
        #expect(trust.refusal(member: "stranger", actor: .anonymous) == nil)
        #expect(trust.refusal(member: "stranger", actor: CallPrincipal(id: "c", role: .candidate)) == "mesh member 'stranger' may not act as candidate 'c' (it may assert: nothing)")
        #expect(trust.refusal(member: "nobody-listed", actor: CallPrincipal(id: "c", role: .candidate))?.contains("nothing") == true)
        #expect(trust.refusal(member: nil, actor: CallPrincipal(id: "ops-1", role: .ops)) == "the call names ops 'ops-1' but came from no verified mesh member")
    }

    @Test func policyNames() {
        #expect(ActorTrust.roles(named: "staff") == ActorTrust.staff)
        #expect(ActorTrust.roles(named: "chief_examiner") == [.chiefExaminer])
        #expect(ActorTrust.roles(named: "unspecified") == nil)
        #expect(ActorTrust.roles(named: "root") == nil)
    }
}
