// The media service's pure core (R64, R65): who may send and receive
// picture and sound, and when. Events in (a grant asked with the facts the
// shell fetched, timing's and discipline's events, what Janus listed), grants
// and Janus effects out. No sockets, no SQLite, no clock, no randomness: the
// shell passes the time and the fresh values.
import ExamPlan
import Foundation

public struct MediaState: Sendable {
    public private(set) var config: MediaConfig
    /// By MediaRoom.key.
    public private(set) var rooms: [String: MediaRoom]
    /// By grant id.
    public private(set) var grants: [String: Grant]
    /// What Janus listed last per room key (not stored: Janus is asked again).
    public private(set) var observed: [String: (at: Date, participants: [ObservedParticipant])] = [:]
    /// Effects decided but not yet carried out (not stored: after a restart
    /// the reconciliation re-derives them from rooms and grants).
    private var pending: [JanusEffect] = []
    private var changedRooms: Set<String> = []
    private var changedGrants: Set<String> = []
    private var forgottenGrants: Set<String> = []
    private var forgottenRooms: Set<String> = []

    public init(config: MediaConfig = MediaConfig(), rooms: [MediaRoom] = [], grants: [Grant] = []) {
        self.config = config
        self.rooms = Dictionary(rooms.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        self.grants = Dictionary(grants.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    // MARK: Grants (R65)

    /// A phone's grant: its own room only, from its entry until its interview
    /// ends or it leaves (R64). `side` and `deviceID` are what devices
    /// proved; `facts` what timing says now.
    public mutating func grantPhone(examNumber: String, side: PhoneSide, deviceID: String, facts: CandidateFacts,
                                    fresh: Fresh, now: Date) throws -> Grant {
        guard facts.examNumber == examNumber else {
            throw MediaError(.permissionDenied, "设备 \(deviceID) 不是考生 \(examNumber) 的手机")
        }
        try Self.requireLive(facts)
        guard facts.entered(side) else {
            throw MediaError(.failedPrecondition, "\(side.chinese)手机尚未进入\(side == .main ? "主房间" : "副房间")（\(facts.sitting.chinese)）：先进入房间，再开始直播")
        }
        guard facts.device(side) == deviceID else {
            throw MediaError(.failedPrecondition, "本手机（\(deviceID)）不是在\(side == .main ? "主房间" : "副房间")中的\(side.chinese)手机（\(facts.device(side))）：第三部手机不能直播")
        }
        var fresh = fresh
        let room = try ensureRoom(facts, side, &fresh, now: now)
        for old in grants.values where old.live && old.role == .candidate && old.examNumber == examNumber
            && old.sitting == facts.sitting && old.side == side {
            end(old.id, reason: "replaced", now: now)
        }
        let access = Access(roomKey: room.key, janusRoom: room.janusRoom, side: side, token: try fresh.secret(),
                            feedID: try fresh.id(), display: "phone:\(side.rawValue)", send: .camera,
                            receive: side == .main ? .staffVoice : .none)
        return issue(Grant(id: fresh.grantID, holder: examNumber, role: .candidate, examNumber: examNumber, roomID: facts.roomID,
                           sitting: facts.sitting, side: side, deviceID: deviceID, basis: "entered", issuedAt: now,
                           joinBy: now.addingTimeInterval(config.joinSeconds), accesses: [access]))
    }

    /// A staff member's grant for one candidate's two rooms: proctors of the
    /// room from the candidate's entry to the end of the sitting; the panel
    /// (examiners and the chief) only while the interview runs (R65).
    public mutating func grantStaff(staffID: String, role: Holder, staff: RoomStaff, facts: CandidateFacts,
                                    fresh: Fresh, now: Date) throws -> Grant {
        let basis: String
        switch role {
        case .candidate:
            throw MediaError(.permissionDenied, "考生不能观看其他考生的画面")
        case .proctor:
            guard staff.proctors.contains(staffID) else {
                throw MediaError(.permissionDenied, "\(staffID) 不是考场 \(staff.roomID) 的考务人员，不能观看该考场考生的画面（R62）")
            }
            try Self.requireLive(facts)
            guard facts.inMainRoom || facts.inSecondaryRoom else {
                throw MediaError(.failedPrecondition, "考生 \(facts.examNumber) 尚未进入房间（\(facts.sitting.chinese)）")
            }
            basis = facts.interviewRunning ? "interviewing" : "entered"
        case .examiner, .chief:
            let onPanel = role == .chief ? staff.chiefs.contains(staffID) : staff.panel.contains(staffID)
            guard onPanel else {
                throw MediaError(.permissionDenied, "\(staffID) 不是考场 \(staff.roomID) 的\(role == .chief ? "主考官" : "考官")，不能观看该考场考生的画面（R62）")
            }
            try Self.requireLive(facts)
            guard facts.interviewRunning else {
                throw MediaError(.failedPrecondition, "考生 \(facts.examNumber) 不在面试中：考官只在其面试开始至结束期间观看（R65）")
            }
            basis = "interviewing"
        }
        var fresh = fresh
        var accesses: [Access] = []
        for side in PhoneSide.allCases {
            let room = try ensureRoom(facts, side, &fresh, now: now)
            accesses.append(Access(roomKey: room.key, janusRoom: room.janusRoom, side: side, token: try fresh.secret(),
                                   feedID: try fresh.id(), display: "staff:\(role.rawValue):\(staffID)",
                                   send: role == .proctor && side == .main ? .voice : .none, receive: .phone))
        }
        for old in grants.values where old.live && old.holder == staffID && old.role == role
            && old.examNumber == facts.examNumber && old.sitting == facts.sitting {
            end(old.id, reason: "replaced", now: now)
        }
        return issue(Grant(id: fresh.grantID, holder: staffID, role: role, examNumber: facts.examNumber, roomID: facts.roomID,
                           sitting: facts.sitting, side: nil, deviceID: nil, basis: basis, issuedAt: now,
                           joinBy: now.addingTimeInterval(config.joinSeconds), accesses: accesses))
    }

    /// A grant's holder leaves (the page closes).
    public mutating func leave(grantID: String, holder: String, role: Holder, now: Date) throws -> Int {
        guard let g = grants[grantID] else { throw MediaError(.notFound, "没有这个直播授权：\(grantID.prefix(40))") }
        guard g.holder == holder, g.role == role else {
            throw MediaError(.permissionDenied, "直播授权 \(grantID) 不是 \(holder) 的")
        }
        guard g.live else { return 0 }
        end(grantID, reason: "left", now: now)
        return 1
    }

    /// A sign-out: every live grant of that person ends.
    public mutating func signedOut(holder: String, role: Holder, now: Date) -> Int {
        let ids = grants.values.filter { $0.live && $0.holder == holder && $0.role == role }.map(\.id)
        for id in ids { end(id, reason: "signed_out", now: now) }
        return ids.count
    }

    // MARK: What the mesh says (timing, discipline)

    /// The phone left its room (timing's candidate.left): its grant ends.
    public mutating func phoneLeft(examNumber: String, sitting: Sitting, side: PhoneSide, now: Date) {
        for g in grants.values where g.live && g.role == .candidate && g.examNumber == examNumber && g.sitting == sitting && g.side == side {
            end(g.id, reason: "left", now: now)
        }
    }

    /// The interview ended (R16: the candidate is moved out of the room):
    /// every grant for the candidate's rooms ends and the rooms go.
    public mutating func interviewEnded(examNumber: String, sitting: Sitting, now: Date) {
        close(examNumber: examNumber, sittings: [sitting], reason: "interview_ended", now: now)
    }

    /// Disqualified (R42): the candidate's rooms go, in every sitting.
    public mutating func disqualified(examNumber: String, now: Date) {
        close(examNumber: examNumber, sittings: Sitting.allCases, reason: "disqualified", now: now)
    }

    /// The room's sitting is over (timing's room.ended): everything of it goes.
    public mutating func roomEnded(roomID: String, sitting: Sitting, now: Date) {
        let exams = Set(rooms.values.filter { $0.roomID == roomID && $0.sitting == sitting && $0.live }.map(\.examNumber))
            .union(grants.values.filter { $0.live && $0.roomID == roomID && $0.sitting == sitting }.map(\.examNumber))
        for e in exams.sorted() { close(examNumber: e, sittings: [sitting], reason: "room_ended", now: now) }
    }

    // MARK: Time and Janus

    /// When `tick` has work: the earliest join window to close.
    public func nextDeadline() -> Date? {
        let joins = grants.values.filter { !$0.tokensWithdrawn }.map(\.joinBy)
        let forget = grants.values.compactMap { $0.endedAt?.addingTimeInterval(config.keepEndedSeconds) }
        return (joins + forget).min()
    }

    /// Join windows that closed: their tokens leave the allowed lists (the
    /// participants that joined stay). Long-ended grants are forgotten.
    public mutating func tick(now: Date) {
        for g in grants.values.sorted(by: { $0.id < $1.id }) where !g.tokensWithdrawn && g.joinBy <= now {
            withdrawTokens(g.id)
        }
        for g in grants.values where !g.live && g.endedAt!.addingTimeInterval(config.keepEndedSeconds) <= now {
            grants[g.id] = nil
            forgottenGrants.insert(g.id)
        }
        for r in rooms.values where r.gone && !grants.values.contains(where: { $0.accesses.contains { $0.roomKey == r.key } }) {
            rooms[r.key] = nil
            forgottenRooms.insert(r.key)
        }
    }

    /// What Janus listed for a room: anyone no live grant explains (its id and
    /// display) is kicked (a client that joined with another id, a grant
    /// that ended while media was down).
    public mutating func observed(roomKey: String, participants: [ObservedParticipant], now: Date) {
        guard let room = rooms[roomKey] else { return }
        observed[roomKey] = (now, participants)
        guard room.live else { return }
        let explained = Set(grants.values.filter(\.live).flatMap(\.accesses).filter { $0.roomKey == roomKey }.map { "\($0.feedID)|\($0.display)" })
        for p in participants where !explained.contains("\(p.feedID)|\(p.display)") {
            pending.append(.kick(janusRoom: room.janusRoom, secret: room.secret, feedID: p.feedID))
        }
    }

    /// Janus has no such room (it restarted, or the room was never made).
    public mutating func roomMissing(roomKey: String, now: Date) {
        guard let room = rooms[roomKey] else { return }
        observed[roomKey] = (now, [])
        if room.live {
            pending.append(.ensure(room, allowed: allowedTokens(roomKey, now: now)))
        } else if !room.gone {
            rooms[roomKey]?.gone = true
            changedRooms.insert(roomKey)
        }
    }

    /// Janus confirmed a destroy.
    public mutating func destroyed(roomKey: String) {
        guard rooms[roomKey] != nil, rooms[roomKey]?.gone == false else { return }
        rooms[roomKey]?.gone = true
        changedRooms.insert(roomKey)
    }

    /// Everything Janus must hold, as effects: every live room with its
    /// allowed tokens, every dead one destroyed (start, Janus restarted).
    public mutating func resync(now: Date) {
        for r in rooms.values.sorted(by: { $0.key < $1.key }) {
            if r.live {
                pending.append(.ensure(r, allowed: allowedTokens(r.key, now: now)))
            } else if !r.gone {
                pending.append(.destroy(roomKey: r.key, janusRoom: r.janusRoom, secret: r.secret))
            }
        }
    }

    /// The rooms Janus must be asked about (live) or told to drop.
    public var roomsToWatch: [MediaRoom] { rooms.values.filter { $0.live || !$0.gone }.sorted { $0.key < $1.key } }

    /// The effects to carry out, in order (taken once).
    public mutating func takeEffects() -> [JanusEffect] {
        defer { pending = [] }
        return pending
    }

    /// The live grants admitting to a room.
    public func grants(admittingTo roomKey: String) -> [Grant] {
        grants.values.filter { g in g.live && g.accesses.contains { $0.roomKey == roomKey } }.sorted { $0.id < $1.id }
    }

    public struct Changes: Sendable {
        public var rooms: [MediaRoom] = []
        public var grants: [Grant] = []
        public var forgottenGrants: [String] = []
        public var forgottenRooms: [String] = []
        public var events: [MediaEvent] = []
    }

    private var events: [MediaEvent] = []

    /// What changed since the last call, for the store and the outbox.
    public mutating func takeChanges() -> Changes {
        defer {
            changedRooms = []
            changedGrants = []
            forgottenGrants = []
            forgottenRooms = []
            events = []
        }
        return Changes(rooms: changedRooms.sorted().compactMap { rooms[$0] }, grants: changedGrants.sorted().compactMap { grants[$0] },
                       forgottenGrants: forgottenGrants.sorted(), forgottenRooms: forgottenRooms.sorted(), events: events)
    }

    // MARK: Inside

    static func requireLive(_ facts: CandidateFacts) throws {
        if facts.disqualified {
            throw MediaError(.failedPrecondition, "考生 \(facts.examNumber) 已被取消资格（R42）：直播已结束")
        }
        switch facts.status {
        case "waiting", "interviewing" where facts.interviewRunning:
            return
        case "interviewing", "interviewed":
            throw MediaError(.failedPrecondition, "考生 \(facts.examNumber) 的面试已结束（\(facts.sitting.chinese)），已移出房间（R16）：直播已结束")
        case "absent":
            throw MediaError(.failedPrecondition, "考生 \(facts.examNumber) 已缺考（\(facts.sitting.chinese)，R12）")
        case "not_interviewed":
            throw MediaError(.failedPrecondition, "考场本场已结束（\(facts.sitting.chinese)）")
        case "not_eligible":
            throw MediaError(.failedPrecondition, "考生 \(facts.examNumber) 不具备进入房间的资格（\(facts.sitting.chinese)）")
        default:
            throw MediaError(.failedPrecondition, "考生 \(facts.examNumber) 尚未进入房间（\(facts.sitting.chinese)）")
        }
    }

    private mutating func ensureRoom(_ facts: CandidateFacts, _ side: PhoneSide, _ fresh: inout Fresh, now: Date) throws -> MediaRoom {
        let key = MediaRoom.key(facts.examNumber, facts.sitting, side)
        if let r = rooms[key], r.live { return r }
        if let r = rooms[key], !r.live {
            // A room closed for this sitting stays closed (R16, R18: no re-entry after the end).
            throw MediaError(.failedPrecondition, "考生 \(facts.examNumber) 的\(side == .main ? "主房间" : "副房间")已关闭（\(r.sitting.chinese)）")
        }
        let room = MediaRoom(examNumber: facts.examNumber, roomID: facts.roomID, sitting: facts.sitting, side: side,
                             janusRoom: try fresh.id(), secret: try fresh.secret(), createdAt: now, live: true, gone: false)
        rooms[key] = room
        changedRooms.insert(key)
        pending.append(.ensure(room, allowed: []))
        return room
    }

    private mutating func issue(_ g: Grant) -> Grant {
        grants[g.id] = g
        changedGrants.insert(g.id)
        for a in g.accesses {
            if let r = rooms[a.roomKey] { pending.append(.allow(janusRoom: r.janusRoom, secret: r.secret, tokens: [a.token])) }
        }
        events.append(.issued(g))
        return g
    }

    /// Ends a grant. `onJanus` false: its rooms are being destroyed, which
    /// drops their tokens and participants at once (no call per token: the
    /// destroy must not wait behind them, R16's "within a second").
    private mutating func end(_ id: String, reason: String, now: Date, onJanus: Bool = true) {
        guard var g = grants[id], g.live else { return }
        g.endedAt = now
        g.endReason = reason
        if !onJanus { g.tokensWithdrawn = true }
        grants[id] = g
        changedGrants.insert(id)
        withdrawTokens(id)
        if onJanus {
            for a in g.accesses {
                if let r = rooms[a.roomKey], r.live { pending.append(.kick(janusRoom: r.janusRoom, secret: r.secret, feedID: a.feedID)) }
            }
        }
        events.append(.ended(grants[id]!))
    }

    private mutating func withdrawTokens(_ id: String) {
        guard var g = grants[id], !g.tokensWithdrawn else { return }
        g.tokensWithdrawn = true
        grants[id] = g
        changedGrants.insert(id)
        for a in g.accesses {
            if let r = rooms[a.roomKey], r.live { pending.append(.disallow(janusRoom: r.janusRoom, secret: r.secret, tokens: [a.token])) }
        }
    }

    private mutating func close(examNumber: String, sittings: [Sitting], reason: String, now: Date) {
        // The rooms first: destroying a room kicks everyone in it and drops
        // its allowed list, so the grants end without a call each.
        for r in rooms.values.sorted(by: { $0.key < $1.key }) where r.live && r.examNumber == examNumber && sittings.contains(r.sitting) {
            rooms[r.key]?.live = false
            changedRooms.insert(r.key)
            pending.append(.destroy(roomKey: r.key, janusRoom: r.janusRoom, secret: r.secret))
        }
        for g in grants.values.sorted(by: { $0.id < $1.id }) where g.live && g.examNumber == examNumber && sittings.contains(g.sitting) {
            end(g.id, reason: reason, now: now, onJanus: false)
        }
    }

    private func allowedTokens(_ roomKey: String, now: Date) -> [String] {
        grants.values.filter { $0.live && !$0.tokensWithdrawn && $0.joinBy > now }
            .flatMap(\.accesses).filter { $0.roomKey == roomKey }.map(\.token).sorted()
    }
}

extension Fresh {
    mutating func secret() throws -> String {
        guard !secrets.isEmpty else { throw MediaError(.invalidArgument, "internal: not enough fresh secrets for a grant") }
        return secrets.removeFirst()
    }

    mutating func id() throws -> UInt64 {
        guard !ids.isEmpty else { throw MediaError(.invalidArgument, "internal: not enough fresh ids for a grant") }
        return ids.removeFirst()
    }

    /// Enough for any one grant: two rooms (id + secret each) and two accesses (token + feed id each).
    public static let perGrant = 4
}

extension Sitting {
    public var chinese: String { self == .mock ? "模拟测试" : "正式面试" }
}
