import BusCore
import NIOCore
import SSEWire
import Testing

/// Golden bytes for the `text/event-stream` encoder (WHATWG HTML §9.2.6).
@Suite struct SSEEventEncoderTests {
    func encode(_ body: (inout ByteBuffer) -> Void) -> String {
        var buffer = ByteBuffer()
        body(&buffer)
        return String(buffer: buffer)
    }

    func message(_ payload: String, type: String? = nil, contentType: String? = nil, position: LogPosition? = nil)
        -> BusMessage
    {
        BusMessage(
            topic: Topic(trusted: "tasks/1"), payload: ByteBuffer(string: payload),
            headers: MessageHeaders(contentType: contentType, eventType: type), timestamp: 0, position: position)
    }

    @Test func messageWithIDTypeAndJSONData() {
        let text = encode { SSEEventEncoder.message(&$0, message(#"{"a":1}"#, type: "task.created"), id: "e1-a") }
        #expect(text == "id: e1-a\nevent: task.created\ndata: {\"a\":1}\n\n")
    }

    @Test func defaultTypeIsMessage() {
        let text = encode { SSEEventEncoder.message(&$0, message("42"), id: nil) }
        #expect(text == "event: message\ndata: 42\n\n")
    }

    @Test func everyLineBreakStartsANewDataLine() {
        // CRLF, lone CR and LF all end a line in an event stream: none may reach the wire inside a field.
        let text = encode { SSEEventEncoder.data(&$0, ByteBuffer(string: "a\r\nb\rc\nd\n")) }
        #expect(text == "data: a\ndata: b\ndata: c\ndata: d\ndata: \n")
    }

    @Test func emptyDataIsOneEmptyDataLine() {
        #expect(encode { SSEEventEncoder.data(&$0, ByteBuffer()) } == "data: \n")
    }

    @Test func leadingSpaceOfALineSurvives() {
        // The parser strips one space after the colon; the encoder writes one, so the data's own stays.
        #expect(encode { SSEEventEncoder.data(&$0, ByteBuffer(string: " x")) } == "data:  x\n")
    }

    @Test func binaryPayloadIsBase64() {
        let binary = BusMessage(
            topic: Topic(trusted: "t"), payload: ByteBuffer(bytes: [0xFF, 0x00, 0x10]),
            headers: MessageHeaders(contentType: "application/octet-stream"), timestamp: 0)
        #expect(encode { SSEEventEncoder.message(&$0, binary, id: nil) } == "event: message\ndata: /wAQ\n\n")
    }

    @Test func openingCommentAndControlEvent() {
        #expect(
            encode { SSEEventEncoder.opening(&$0, retryMilliseconds: 1500, id: "e-1") } == "retry: 1500\nid: e-1\n\n")
        #expect(encode { SSEEventEncoder.comment(&$0, "keep-alive") } == ": keep-alive\n\n")
        let reset = encode {
            SSEEventEncoder.event(&$0, type: "reset", data: ByteBuffer(string: #"{"channel":"c"}"#))
        }
        #expect(reset == "event: reset\ndata: {\"channel\":\"c\"}\n\n")
    }

    @Test func presenceEventsCarryTheClient() {
        let info = PresenceInfo(
            clientID: "c1", userID: "ann", name: nil, protocolName: "sse", connectedAt: 0, remoteAddress: nil)
        let join = BusMessage(topic: Topic(trusted: "chat/a"), payload: ByteBuffer(), timestamp: 0, kind: .join(info))
        #expect(
            encode { SSEEventEncoder.message(&$0, join, id: nil) }
                == "event: join\ndata: {\"channel\":\"chat/a\",\"client\":{\"client\":\"c1\",\"user\":\"ann\",\"name\":null,\"protocol\":\"sse\"}}\n\n"
        )
    }

    @Test func pollAndRealtimeJSON() {
        let json = encode {
            SSEMessageJSON.message(
                &$0, message("hi", type: "t.x", contentType: "text/plain", position: .init(offset: 3, epoch: "e")))
        }
        #expect(json == #"{"channel":"tasks/1","event":"t.x","text":"hi","offset":3,"epoch":"e"}"#)
        let reset = SSEReset(
            channel: "c", requested: LogPosition(offset: 5, epoch: "old"), current: LogPosition(offset: 9, epoch: "new")
        )
        #expect(reset.reason == .epochChanged)
        #expect(
            encode { SSEMessageJSON.reset(&$0, reset) }
                == #"{"channel":"c","reason":"epoch_changed","requested":{"offset":5,"epoch":"old"},"current":{"offset":9,"epoch":"new"}}"#
        )
        let trimmed = SSEReset(
            channel: "c", requested: LogPosition(offset: 1, epoch: "e"), current: LogPosition(offset: 900, epoch: "e"))
        #expect(trimmed.reason == .outOfWindow)
    }
}
