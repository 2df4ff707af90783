import ExamPlan
import Foundation

/// One generated candidate (synthetic: the ID numbers are valid by their
/// checksum but belong to nobody).
public struct DemoCandidate: Sendable, Equatable {
    public var examNumber: String
    public var name: String
    public var idNumber: String
    public var phone: String
    public var postCode: String
    public var postName: String
    public var writtenScore: String
    public var places: Int
    /// The default password (R2): the ID number's last six characters.
    public var defaultPassword: String { String(idNumber.suffix(6)) }
}

public struct DemoPost: Sendable, Equatable {
    public var code: String
    public var name: String
    public var places: Int
}

/// Generates a qualified-candidate list (the notice's attachment 1) and a
/// plan that places every candidate in a room.
public struct DemoRoster: Sendable {
    public var candidates: [DemoCandidate]
    public var posts: [DemoPost]

    static let surnames = Array("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
    static let given = Array("伟芳娜秀敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰文辉建国红梅晓燕俊峰宇欣怡浩然子涵雨萱梓睿思源佳琪")
    /// Districts of Qingdao (市南区 first).
    static let regions = ["370202", "370203", "370211", "370212", "370213", "370214", "370215"]

    public init(count: Int, seed: UInt64 = 20221117, posts: [DemoPost]? = nil) {
        var rng = SplitMix64(seed: seed)
        let posts = posts ?? [
            DemoPost(code: "SN2022-01", name: "社区专职工作者（一）", places: max(1, count / 20)),
            DemoPost(code: "SN2022-02", name: "社区专职工作者（二）", places: max(1, count / 25)),
            DemoPost(code: "SN2022-03", name: "社区专职工作者（退役军人）", places: max(1, count / 50)),
        ]
        self.posts = posts
        var usedPhones = Set<String>(), usedIDs = Set<String>()
        candidates = (0..<count).map { i in
            let post = posts[i % posts.count]
            let surname = Self.surnames[Int(rng.next() % UInt64(Self.surnames.count))]
            let g1 = Self.given[Int(rng.next() % UInt64(Self.given.count))]
            let name = rng.next() % 3 == 0 ? "\(surname)\(g1)" : "\(surname)\(g1)\(Self.given[Int(rng.next() % UInt64(Self.given.count))])"
            let region = Self.regions[Int(rng.next() % UInt64(Self.regions.count))]
            let year = 1984 + Int(rng.next() % 16), month = 1 + Int(rng.next() % 12), day = 1 + Int(rng.next() % 28)
            // R1 refuses a list with one ID number twice: at ten thousand
            // people a birthday twin with the same sequence number turns up.
            var body: String
            repeat {
                body = region + String(format: "%04d%02d%02d", year, month, day) + String(format: "%03d", Int(rng.next() % 1000))
            } while !usedIDs.insert(body).inserted
            var phone: String
            repeat {
                phone = "1" + ["3", "5", "7", "8", "9"][Int(rng.next() % 5)] + String(format: "%09llu", rng.next() % 1_000_000_000)
            } while !usedPhones.insert(phone).inserted
            let score = 6000 + Int(rng.next() % 3200)
            return DemoCandidate(examNumber: String(format: "2022%06d", 110_001 + i), name: name,
                                 idNumber: body + String(Self.checkCharacter(body)), phone: phone,
                                 postCode: post.code, postName: post.name,
                                 writtenScore: "\(score / 100).\(String(format: "%02d", score % 100))", places: post.places)
        }
    }

    /// Posts for a big list: one for about every `perPost` candidates, each
    /// with a tenth of its candidates' places (at least one), as a district
    /// recruitment with many community posts has.
    public static func posts(for count: Int, perPost: Int = 50) -> [DemoPost] {
        let n = max(1, count / perPost)
        return (1...n).map { i in
            DemoPost(code: String(format: "SN2022-%03d", i), name: "社区专职工作者（岗位\(i)）", places: max(1, perPost / 10))
        }
    }

    /// GB 11643-1999 check character of the first 17 digits.
    public static func checkCharacter(_ first17: String) -> Character {
        let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
        let sum = zip(first17.compactMap { $0.wholeNumberValue }, weights).reduce(0) { $0 + $1.0 * $1.1 }
        return Array("10X98765432")[sum % 11]
    }

    /// The list as the roster imports it (R1): UTF-8 with a BOM, as Excel saves it.
    public func csv(bom: Bool = true) -> Data {
        var text = "exam_number,name,id_number,phone,post_code,post_name,written_score,places\r\n"
        for c in candidates {
            text += "\(c.examNumber),\(c.name),\(c.idNumber),\(c.phone),\(c.postCode),\(c.postName),\(c.writtenScore),\(c.places)\r\n"
        }
        return (bom ? Data([0xEF, 0xBB, 0xBF]) : Data()) + Data(text.utf8)
    }

    /// A plan for these candidates: rooms of `roomSize` (seven examiners
    /// each, the first the chief), windows as given (relative "+Ns" or
    /// Beijing times).
    public func planJSON(roomSize: Int, confirmation: (String, String), mockEntry: (String, String),
                         formalEntry: (String, String), publication: String,
                         readingSeconds: Int, answeringSeconds: Int, answeringTurn: String = "automatic",
                         panelSize: Int = 7, exam: String = "2022 市南区社区专职工作者公开招聘面试（演示）") -> String {
        var rooms: [String] = []
        let groups = stride(from: 0, to: candidates.count, by: roomSize).map { Array(candidates[$0..<min($0 + roomSize, candidates.count)]) }
        for (i, group) in groups.enumerated() {
            let id = String(format: "R%02d", i + 1)
            let panel = (1...panelSize).map { e in
                "{ \"id\": \"\(id)-E\(e)\", \"name\": \"\(id) 考官\(e)\"\(e == 1 ? ", \"chief\": true" : "") }"
            }.joined(separator: ", ")
            let list = group.map { "\"\($0.examNumber)\"" }.joined(separator: ", ")
            rooms.append("    { \"id\": \"\(id)\", \"name\": \"第\(i + 1)考场\", \"panel\": [ \(panel) ], \"candidates\": [ \(list) ], \"proctors\": [ \"\(id)-P1\" ] }")
        }
        return """
        {
          "exam": "\(exam)",
          "confirmation": { "opens": "\(confirmation.0)", "closes": "\(confirmation.1)" },
          "mock": { "entry_opens": "\(mockEntry.0)", "entry_closes": "\(mockEntry.1)" },
          "formal": { "entry_opens": "\(formalEntry.0)", "entry_closes": "\(formalEntry.1)" },
          "publication": "\(publication)",
          "interview": { "reading_seconds": \(readingSeconds), "answering_seconds": \(answeringSeconds), "answering_turn": "\(answeringTurn)" },
          "rooms": [
        \(rooms.joined(separator: ",\n"))
          ]
        }
        """
    }
}

extension DemoRoster {
    /// A roster read back from a CSV in the layout `csv()` writes (for a
    /// plan and list that ops provide).
    public static func load(csvPath: String) throws -> DemoRoster {
        guard let data = FileManager.default.contents(atPath: csvPath) else {
            throw DemoError("cannot read \(csvPath)")
        }
        var text = String(decoding: data, as: UTF8.self)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        let lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard let header = lines.first?.split(separator: ",").map(String.init) else { throw DemoError("\(csvPath) is empty") }
        func col(_ n: String) throws -> Int {
            guard let i = header.firstIndex(of: n) else { throw DemoError("\(csvPath) has no column \(n)") }
            return i
        }
        let e = try col("exam_number"), n = try col("name"), id = try col("id_number"), p = try col("phone"),
            pc = try col("post_code"), pn = try col("post_name"), w = try col("written_score"), pl = try col("places")
        var r = DemoRoster(count: 0)
        r.candidates = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            .filter { $0.count == header.count }
            .map { f in DemoCandidate(examNumber: f[e], name: f[n], idNumber: f[id], phone: f[p], postCode: f[pc], postName: f[pn],
                                      writtenScore: f[w], places: Int(f[pl]) ?? 1) }
        var posts: [String: DemoPost] = [:]
        for c in r.candidates { posts[c.postCode] = DemoPost(code: c.postCode, name: c.postName, places: c.places) }
        r.posts = posts.values.sorted { $0.code < $1.code }
        return r
    }
}

public struct DemoError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}
