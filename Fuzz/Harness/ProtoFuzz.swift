import Bus
import ExamContracts
import Foundation

/// The protobuf-c mirrors (Shared/Bus/ProtoCodec.swift and the generated
/// readers and writers of ExamContracts). The first byte picks the message
/// type, the rest is the message. A message that decodes must re-encode, and
/// decode again to the same value and the same bytes.
enum ProtoFuzz {
    /// The message types, by the selector byte (their proto names for the seeds).
    static let types: [(name: String, roundTrip: @Sendable (UnsafeRawBufferPointer) -> Void)] = [
        (ImportRequest.protoName, { roundTrip(ImportRequest.self, $0) }),
        (HeartbeatBatchRequest.protoName, { roundTrip(HeartbeatBatchRequest.self, $0) }),
        (StartInterviewRequest.protoName, { roundTrip(StartInterviewRequest.self, $0) }),
        (ReportRequest.protoName, { roundTrip(ReportRequest.self, $0) }),
        (SubmitSheetRequest.protoName, { roundTrip(SubmitSheetRequest.self, $0) }),
        (ProbeMessage.protoName, { roundTrip(ProbeMessage.self, $0) }),
        (ExamPlanInfo.protoName, { roundTrip(ExamPlanInfo.self, $0) }),
    ]

    static func run(_ data: UnsafeRawBufferPointer) {
        guard let pick = data.first else { return }
        types[Int(pick) % types.count].roundTrip(data.tail)
    }

    static func roundTrip<M: ProtoMessage>(_ type: M.Type, _ bytes: UnsafeRawBufferPointer) {
        guard let m = try? ProtoCodec.decode(M.self, from: bytes) else { return }
        let encoded: [UInt8]
        do { encoded = try ProtoCodec.encode(m) } catch {
            check(false, "\(M.protoName) decoded but does not encode: \(error)")
            return
        }
        let back: M
        do { back = try ProtoCodec.decode(M.self, from: encoded) } catch {
            check(false, "\(M.protoName) re-encoded does not decode: \(error)")
            return
        }
        // NaN is not equal to itself: compare values only when they are.
        if m == m { check(back == m, "\(M.protoName) round trip: \(m) -> \(back)") }
        let again = try? ProtoCodec.encode(back)
        check(again == encoded, "\(M.protoName) encodes differently after a round trip")
    }

    static func seeds() -> [(name: String, bytes: [UInt8])] {
        func seed<M: ProtoMessage>(_ name: String, _ m: M) -> (name: String, bytes: [UInt8]) {
            let i = types.firstIndex { $0.name == M.protoName }!
            return (name, [UInt8(i)] + (try! ProtoCodec.encode(m)))
        }
        let csv = "exam_number,name,id_number,phone,post_code,post_name,written_score,places\n"
            + "2022110001,张三,370202199001010014,13800000001,P01,社区专职工作者A,85.50,2\n"
        return [
            seed("import", ImportRequest(csv: Data(csv.utf8), fileName: "attachment1.csv")),
            seed("heartbeats", HeartbeatBatchRequest(heartbeats: [
                HeartbeatRequest(deviceId: "dev-1", deviceKey: "k1"), HeartbeatRequest(deviceId: "dev-2", deviceKey: "k2"),
            ])),
            seed("start", StartInterviewRequest(roomId: "R01", sitting: .formal, examNumber: "2022110001")),
            seed("report", ReportRequest(examNumber: "2022110001", ground: 3, evidence: "phone left the frame",
                                         references: ["photo-1", "clip-2"], occurredAtMs: 1_668_830_400_000,
                                         sitting: .mock, requestId: "req-9")),
            seed("sheet", SubmitSheetRequest(csv: Data("exam_number,examiner_id,score\n2022110011,G01,90\n".utf8))),
            seed("probe", ProbeMessage(
                n: 18_446_744_073_709_551_615, payload: Data([0, 1, 2, 255]), text: "面试 résumé", holdMs: 7,
                tags: ["a", "", "第三"], items: [ProbeItem(name: "x", value: -5), ProbeItem(name: "y", value: Int64.max)],
                item: ProbeItem(name: "solo", value: 1), code: .failedPrecondition, choiceText: nil, choiceNumber: -42,
                numbers: [1, -1, Int64.min], flag: true, ratio: 0.125, delta: -3, codes: [.ok, .unavailable],
                blobs: [Data(), Data([9, 9])])),
            seed("plan", ExamPlanInfo(exam: "2022 面试", confirmation: PlanWindow(opensMs: 1_668_646_800_000, closesMs: 1_668_672_000_000),
                                      formalEntry: PlanWindow(opensMs: 1_668_826_800_000, closesMs: 1_668_827_400_000),
                                      publicationMs: 1_668_992_400_000, readingSeconds: 300, answeringSeconds: 300,
                                      rooms: [PlanRoom(id: "R01", name: "第一考场",
                                                       panel: [PlanExaminer(id: "E01", name: "王考官", chief: true)],
                                                       candidates: ["2022110001", "2022110002"], proctors: ["P01"])])),
        ]
    }
}
