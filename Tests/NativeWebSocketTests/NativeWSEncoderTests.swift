import BusCore
import NIOCore
import NativeWebSocketWire
import Testing

@Suite struct NativeWSEncoderTests {
    func message(_ payload: ByteBuffer, position: LogPosition? = nil, reply: String? = nil) throws -> String {
        let message = BusMessage(
            topic: try Topic("chat/room1"), payload: payload, headers: MessageHeaders(replyTo: reply), timestamp: 0,
            position: position)
        var buffer = ByteBuffer()
        BusJSON.message(&buffer, message)
        return String(buffer: buffer)
    }

    @Test func aPublisherSetEventTypeIsShown() {
        let message = BusMessage(
            topic: Topic(trusted: "tasks/1"), payload: ByteBuffer(string: "1"),
            headers: MessageHeaders(eventType: "task.created"), timestamp: 0)
        var buffer = ByteBuffer()
        BusJSON.message(&buffer, message)
        #expect(String(buffer: buffer) == #"{"type":"message","channel":"tasks/1","data":1,"event":"task.created"}"#)
    }

    @Test func pushShapesFollowThePayloadRule() throws {
        #expect(
            try message(ByteBuffer(string: #"{"a":1}"#), position: LogPosition(offset: 42, epoch: "e"))
                == #"{"type":"message","channel":"chat/room1","data":{"a":1},"offset":42,"epoch":"e"}"#)
        #expect(
            try message(ByteBuffer(string: "plain \"text\""))
                == #"{"type":"message","channel":"chat/room1","text":"plain \"text\""}"#)
        #expect(
            try message(ByteBuffer(bytes: [0xff, 0xfe]))
                == #"{"type":"message","channel":"chat/room1","binary":"//4="}"#)
        #expect(
            try message(ByteBuffer(string: "1"), reply: "_INBOX/x")
                == #"{"type":"request","channel":"chat/room1","data":1,"reply":"_INBOX/x"}"#)
    }

    @Test func presenceEventsAndErrors() throws {
        let info = PresenceInfo(
            clientID: "c1", userID: "u", name: nil, protocolName: "websocket", connectedAt: 0,
            remoteAddress: "127.0.0.1:1")
        let join = BusMessage(topic: try Topic("chat/x"), payload: ByteBuffer(), timestamp: 0, kind: .join(info))
        var buffer = ByteBuffer()
        BusJSON.message(&buffer, join)
        #expect(
            String(buffer: buffer)
                == #"{"type":"join","channel":"chat/x","client":{"client":"c1","user":"u","name":null,"protocol":"websocket","connected_at":"1970-01-01T00:00:00.000Z","remote":"127.0.0.1:1"}}"#
        )
        buffer.clear()
        NativeWSEncoder.error(&buffer, id: ByteBuffer(string: "\"q\""), code: .notFound, message: "no")
        #expect(String(buffer: buffer) == #"{"id":"q","type":"error","code":"not_found","message":"no"}"#)
    }

    @Test func iso8601() {
        #expect(ISO8601.format(secondsSince1970: 1_700_000_000.123) == "2023-11-14T22:13:20.123Z")
        #expect(ISO8601.format(secondsSince1970: 951_782_400) == "2000-02-29T00:00:00.000Z")
    }
}
