import Bus
import ExamContracts
import Foundation
import Testing

@Suite("protobuf-c codec")
struct CodecTests {
    let full = ProbeMessage(
        n: 18_446_744_073_709_551_615, payload: Data([0, 1, 2, 255]), text: "面试 résumé", holdMs: 7,
        tags: ["a", "", "第三"], items: [ProbeItem(name: "x", value: -5), ProbeItem(name: "y", value: Int64.max)],
        item: ProbeItem(name: "solo", value: 1), code: .failedPrecondition, choiceText: nil, choiceNumber: -42,
        numbers: [1, -1, Int64.min], flag: true, ratio: 0.125, delta: -3, codes: [.ok, .unavailable],
        blobs: [Data(), Data([9, 9])])

    @Test func roundTripsEveryKindOfField() throws {
        let bytes = try ProtoCodec.encode(full)
        let back = try ProtoCodec.decode(ProbeMessage.self, from: bytes)
        #expect(back == full)
    }

    /// Issue 16 (fuzzing): a oneof member holding "" was packed as absent.
    @Test func anEmptyStringOneofMemberStaysSet() throws {
        let m = ProbeMessage(choiceText: "")
        let back = try ProtoCodec.decode(ProbeMessage.self, from: ProtoCodec.encode(m))
        #expect(back.choiceText == "")
        #expect(back == m)
    }

    @Test func allDefaultMessageIsZeroBytes() throws {
        #expect(try ProtoCodec.encode(ProbeMessage()).isEmpty)
        #expect(try ProtoCodec.decode(ProbeMessage.self, from: [UInt8]()) == ProbeMessage())
    }

    @Test func oneofKeepsOnlyTheMemberThatWasSet() throws {
        var m = ProbeMessage()
        m.choiceText = "text"
        let back = try ProtoCodec.decode(ProbeMessage.self, from: ProtoCodec.encode(m))
        #expect(back.choiceText == "text")
        #expect(back.choiceNumber == nil)
    }

    @Test func twoMembersOfOneOneofAreRefused() {
        var m = ProbeMessage()
        m.choiceText = "a"
        m.choiceNumber = 1
        #expect(throws: ProtoCodecError.self) { try ProtoCodec.encode(m) }
    }

    @Test func stringWithNULIsRefused() {
        #expect(throws: ProtoCodecError.self) { try ProtoCodec.encode(ProbeMessage(text: "a\u{0}b")) }
    }

    @Test func malformedBytesAreAnErrorNotACrash() {
        // Field 2 (bytes) claims 100 bytes but 3 follow.
        #expect(throws: ProtoCodecError.self) { try ProtoCodec.decode(ProbeMessage.self, from: [0x12, 100, 1, 2, 3]) }
        // A varint that never ends.
        #expect(throws: ProtoCodecError.self) { try ProtoCodec.decode(ProbeMessage.self, from: [0x08] + [UInt8](repeating: 0xFF, count: 12)) }
    }

    @Test func randomBytesNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let n = Int.random(in: 0..<64, using: &rng)
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try? ProtoCodec.decode(ProbeMessage.self, from: bytes)
        }
    }

    @Test func invalidUTF8IsRefusedWithTheFieldName() throws {
        // Field 3 (text), length 2, bytes C3 28 (invalid UTF-8).
        do {
            _ = try ProtoCodec.decode(ProbeMessage.self, from: [0x1A, 2, 0xC3, 0x28])
            Issue.record("invalid UTF-8 was accepted")
        } catch let e as ProtoCodecError {
            #expect(e.description.contains("text"))
        }
    }

    @Test func unknownEnumValueIsRefused() {
        // Field 8 (code) = 99: not a StatusCode.
        #expect(throws: ProtoCodecError.self) { try ProtoCodec.decode(ProbeMessage.self, from: [0x40, 99]) }
    }

    @Test func truncatedEncodingIsRefused() throws {
        let bytes = try ProtoCodec.encode(full)
        var refused = 0
        for cut in 1..<bytes.count {
            if (try? ProtoCodec.decode(ProbeMessage.self, from: Array(bytes.prefix(cut)))) == nil { refused += 1 }
        }
        // Most cuts land inside a field; those must fail (cuts between fields decode a shorter message).
        #expect(refused > bytes.count / 2)
    }

    @Test func nativeEnumsMatchTheirDescriptors() throws {
        func check<E: ProtoEnum>(_ type: E.Type, prefix: String) throws {
            let values = try #require(ProtoRegistry.enums[E.protoName])
            #expect(values.count == E.allCases.count)
            for v in values {
                let c = try #require(E(rawValue: v.value), "\(E.protoName) value \(v.name) has no Swift case")
                #expect(v.name.hasPrefix(prefix))
                _ = c
            }
        }
        try check(RPCCode.self, prefix: "STATUS_CODE_")
        try check(ActorRole.self, prefix: "ROLE_")
        for c in RPCCode.allCases {
            let name = try #require(ProtoRegistry.enums["exam.v1.StatusCode"]?.first { $0.value == c.rawValue }?.name)
            #expect(name == "STATUS_CODE_" + c.name)
        }
    }

    @Test func everyServiceMethodIsRegistered() {
        #expect(ProtoRegistry.methods["exam.v1.Node/Replay"]?.input.name == "exam.v1.ReplayRequest")
        #expect(ProtoRegistry.methods["exam.v1.BusProbe/Echo"]?.output.name == "exam.v1.ProbeMessage")
        for m in NodeAPI.allMethods + BusProbeAPI.allMethods { #expect(ProtoRegistry.methods[m] != nil) }
    }
}
