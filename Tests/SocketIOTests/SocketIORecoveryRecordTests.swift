import BusCore
import FrontendKit
import NIOCore
import Testing

@testable import SocketIOFrontend

/// The recovery record as the instances share it (`SocketIORecoveryRecord+Shared.swift`) and where a
/// record resumes each room, full (with deliveries) or live (rooms only, after `kill -9`).
@Suite struct SocketIORecoveryRecordTests {
    let alice = ClientIdentity(userID: "alice")

    func record(rooms: [SocketIORecoveryRecord.Room?], recent: [SocketIODeliveryRecord], live: Bool = false)
        -> SocketIORecoveryRecord
    {
        var record = SocketIORecoveryRecord(
            privateID: "p1", socketID: "s1", namespace: "/chat", identity: alice, rooms: rooms, recent: recent,
            keptAt: 0, expiresAt: 1)
        record.isLive = live
        return record
    }

    @Test func roundTripsThroughItsSharedForm() throws {
        let original = record(
            rooms: [
                .init(channel: "chat/a", position: LogPosition(offset: 3, epoch: "e1")), nil,
                .init(channel: "chat/\"quoted\"", position: nil),
            ],
            recent: [.init(room: 0, offset: 4), .init(room: 0, offset: 5)])
        let decoded = try #require(
            SocketIORecoveryRecord(shared: original.shared, identity: alice, now: 10, window: 5))
        #expect(decoded.privateID == "p1" && decoded.socketID == "s1" && decoded.namespace == "/chat")
        #expect(decoded.rooms.count == 3 && decoded.rooms[1] == nil)
        #expect(
            decoded.rooms[0]?.channel == "chat/a" && decoded.rooms[0]?.position == LogPosition(offset: 3, epoch: "e1"))
        #expect(decoded.rooms[2]?.channel == "chat/\"quoted\"" && decoded.rooms[2]?.position == nil)
        #expect(decoded.recent.map(\.offset) == [4, 5] && decoded.keptAt == 10 && decoded.expiresAt == 15)
        #expect(!decoded.isLive)
        // Resumes exactly as the original: the room at the client's last offset.
        #expect(decoded.resumePositions(after: "4:chat/a")?.first?.position?.offset == 4)
    }

    @Test func anotherUserOrBrokenBytesAreNoRecord() {
        let shared = record(rooms: [], recent: []).shared
        #expect(
            SocketIORecoveryRecord(shared: shared, identity: ClientIdentity(userID: "bob"), now: 0, window: 1) == nil)
        #expect(SocketIORecoveryRecord(shared: shared, identity: .anonymous, now: 0, window: 1) == nil)
        for text in [
            "", "{", "[]", #"{"pid":"p"}"#, #"{"pid":"p","sid":"s","ns":"/","rooms":[],"recent":[0]}"#,
            #"{"pid":"p","sid":"s","ns":"/","rooms":[],"recent":[7,1]}"#,
        ] {
            #expect(SocketIORecoveryRecord(shared: ByteBuffer(string: text), identity: alice, now: 0, window: 1) == nil)
        }
    }

    @Test func aLiveRecordResumesOnlyTheOneRoomWithHistoryTheOffsetNames() throws {
        let one = record(
            rooms: [
                .init(channel: "chat/a", position: LogPosition(offset: 2, epoch: "e1")),
                .init(channel: "chat/plain", position: nil),
            ],
            recent: [], live: true)
        let shared = try #require(SocketIORecoveryRecord(shared: one.shared, identity: alice, now: 0, window: 1))
        #expect(shared.isLive)
        let positions = try #require(shared.resumePositions(after: "9:chat/a"))
        #expect(positions.map(\.channel) == ["chat/a", "chat/plain"])
        #expect(positions[0].position == LogPosition(offset: 9, epoch: "e1") && positions[1].position == nil)
        // An offset of another channel, or before the room's start, places nothing.
        #expect(shared.resumePositions(after: "9:chat/b") == nil)
        #expect(shared.resumePositions(after: "1:chat/a") == nil)
        // Two rooms with history: one offset cannot place both.
        let two = record(
            rooms: [
                .init(channel: "chat/a", position: LogPosition(offset: 2, epoch: "e1")),
                .init(channel: "chat/b", position: LogPosition(offset: 0, epoch: "e2")),
            ],
            recent: [], live: true)
        #expect(two.resumePositions(after: "9:chat/a") == nil)
    }

    @Test func vectorOffsetsRoundTripAndRefuseWhatIsMalformed() throws {
        let text = SocketIOOffset.vector(
            count: 12, rooms: [(slot: 0, offset: 7), (slot: 3, offset: 40)], offset: 40, channel: "chat/a;b:c")
        #expect(text == "~12;0.7,3.40;40:chat/a;b:c")
        let vector = try #require(SocketIOOffset.parseVector(text))
        #expect(vector == .init(count: 12, rooms: [0: 7, 3: 40], offset: 40, channel: "chat/a;b:c"))
        // The shared form's parse reads a vector's own offset and channel (a full record resumes from it).
        let parsed = try #require(SocketIOOffset.parse(text))
        #expect(parsed.0 == 40 && parsed.1 == "chat/a;b:c")
        for bad in [
            "~", "~;", "~1;", "~1;0.1", "~1;0.1;", "~1;0.1;x:c", "~x;0.1;1:c", "~1;0;1:c", "~1;0.1.2;1:c",
            "~1;0.1,0.2;1:c", "~1;-1.1;1:c", "~1;65536.1;1:c", "~1;0.x;1:c", "12:c",
        ] {
            #expect(SocketIOOffset.parseVector(bad) == nil, "\(bad)")
        }
    }

    @Test func aLiveRecordPlacesEveryRoomFromAVectorOffset() throws {
        let live = record(
            rooms: [
                .init(channel: "chat/a", position: LogPosition(offset: 2, epoch: "e1"), joinedAt: 0), nil,
                .init(channel: "chat/b", position: LogPosition(offset: 5, epoch: "e2"), joinedAt: 1),
                .init(channel: "chat/plain", position: nil, joinedAt: 2),
                .init(channel: "chat/late", position: LogPosition(offset: 30, epoch: "e3"), joinedAt: 9),
            ],
            recent: [], live: true)
        let shared = try #require(SocketIORecoveryRecord(shared: live.shared, identity: alice, now: 0, window: 1))
        #expect(shared.rooms.map { $0?.joinedAt } == [0, nil, 1, 2, 9])
        // The client's last event was the 9th delivery: a and b from the vector, late (joined at 9) from
        // its start, the room without history as it is.
        let positions = try #require(shared.resumePositions(after: "~9;0.8,2.11;11:chat/b"))
        #expect(positions.map(\.channel) == ["chat/a", "chat/b", "chat/plain", "chat/late"])
        #expect(
            positions.map(\.position) == [
                LogPosition(offset: 8, epoch: "e1"), LogPosition(offset: 11, epoch: "e2"), nil,
                LogPosition(offset: 30, epoch: "e3"),
            ])
        // A room joined before the last event must be in the vector, at or after its start.
        #expect(shared.resumePositions(after: "~9;0.8;8:chat/a") == nil)
        #expect(shared.resumePositions(after: "~9;0.1,2.11;11:chat/b") == nil)
        #expect(shared.resumePositions(after: "~9;;11:chat/b") == nil)
    }
}
