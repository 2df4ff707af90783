import Foundation
import Testing
@testable import DisciplineCore

@Suite("The ten grounds (R40)")
struct GroundTests {
    @Test func tenGroundsNumberedAsTheNotice() {
        #expect(Ground.allCases.map(\.rawValue) == Array(1...10))
        #expect(Ground.signalLoss.number == 9)
        #expect(Ground.allCases.allSatisfy { !$0.english.isEmpty && !$0.chinese.isEmpty })
        #expect(Set(Ground.allCases.map(\.chinese)).count == 10)
    }

    @Test func chineseTextIsVerbatim() {
        #expect(Ground.otherPersonInRoom.chinese == "面试房间内有其他人在场或中途进入的")
        #expect(Ground.disclosingIdentity.chinese == "以任何方式向考官透露本人的姓名、学习院校、亲属关系等信息的")
        #expect(Ground.signalLoss.chinese == "面试过程中双机位信号同时中断、单机位长时间信号中断或多次信号中断的")
        #expect(Ground.otherMisconduct.chinese == "有其他违纪、舞弊行为的")
        #expect(Ground.signalLoss.description.hasPrefix("9. 面试过程中"))
    }

    /// Against the notice itself, where the seed is at hand (section 7,
    /// "N、text；" lines).
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/work/shared/seed/interview-notice-zh.txt")))
    func chineseTextMatchesTheNoticeFile() throws {
        let notice = try String(contentsOfFile: "/work/shared/seed/interview-notice-zh.txt", encoding: .utf8)
        let section7 = try #require(notice.range(of: "七、面试纪律要求")).upperBound
        let text = String(notice[section7...])
        for g in Ground.allCases {
            #expect(text.contains("\(g.rawValue)、\(g.chinese)"), "ground \(g.rawValue)")
        }
    }

    @Test(arguments: [0, 11, -1, 99])
    func unknownNumberIsInvalidArgument(_ n: Int) {
        #expect(throws: DisciplineError(.invalidArgument, "ground: \(n) is not a ground of section 7 of the notice (1-10)")) {
            try Ground.numbered(n)
        }
    }

    @Test func codedAsItsNumber() throws {
        let data = try JSONEncoder().encode([Ground.standIn, .signalLoss])
        #expect(String(decoding: data, as: UTF8.self) == "[2,9]")
        #expect(try JSONDecoder().decode([Ground].self, from: data) == [.standIn, .signalLoss])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Ground].self, from: Data("[11]".utf8)) }
    }
}
