import BusCore
import NIOCore
import NativeWebSocketWire
import Testing

@Suite struct NativeWSRequestDecoderTests {
    func decode(_ text: String) throws(NativeWSRequestError) -> NativeWSRequest {
        try NativeWSRequestDecoder.decode(ByteBuffer(string: text))
    }

    @Test func publishCarriesTheEventTypeAndRefusesAMalformedOne() throws {
        let typed = try decode(#"{"type":"publish","channel":"tasks/1","data":1,"event":"task.created"}"#)
        guard case .publish(_, _, let event) = typed.command else { Issue.record("not publish"); return }
        #expect(event == "task.created")
        #expect(throws: NativeWSRequestError.self) {
            try decode(#"{"type":"publish","channel":"tasks/1","data":1,"event":"two words"}"#)
        }
    }

    @Test func decodesEveryRequestShape() throws {
        let publish = try decode(#"{"id":4,"type":"publish","channel":"chat/room1","data":{"text": "hi"}}"#)
        #expect(publish.id.map { String(buffer: $0) } == "4")
        guard case .publish(let channel, let data, _) = publish.command else { Issue.record("not publish"); return }
        #expect(channel == "chat/room1")
        #expect(String(buffer: data) == #"{"text": "hi"}"#)  // the raw slice, not re-encoded

        guard
            case .subscribe(_, let history, let recover, let filter) = try decode(
                #"{"id":"a","type":"subscribe","channel":"c","history":10,"recover":{"offset":41,"epoch":"e1"}}"#
            ).command
        else { Issue.record("not subscribe"); return }
        #expect(history == 10 && filter == nil)
        #expect(recover == LogPosition(offset: 41, epoch: "e1"))
        guard
            case .subscribe(_, _, _, let filter) = try decode(
                #"{"type":"subscribe","channel":"collections/tasks/+","filter":"repository = \"core\""}"#
            ).command
        else { Issue.record("not subscribe"); return }
        #expect(filter == #"repository = "core""#)

        guard
            case .rpc(_, _, let timeout) = try decode(#"{"type":"rpc","channel":"svc","data":null,"timeout":5000}"#)
                .command
        else { Issue.record("not rpc"); return }
        #expect(timeout == 5000)
        guard case .respond(let reply, _) = try decode(#"{"type":"respond","reply":"_INBOX/x","data":1}"#).command
        else { Issue.record("not respond"); return }
        #expect(reply == "_INBOX/x")
        guard
            case .connect(let token, let name, let user, let password) = try decode(
                #"{"type":"connect","token":"t","name":"n"}"#
            ).command
        else { Issue.record("not connect"); return }
        #expect(token == "t" && name == "n" && user == nil && password == nil)
        guard
            case .connect(nil, nil, let user2, let password2) = try decode(
                #"{"type":"connect","user":"alice","password":"pw"}"#
            ).command
        else { Issue.record("not connect"); return }
        #expect(user2 == "alice" && password2 == "pw")
        guard
            case .history(_, let limit, let since) = try decode(#"{"type":"history","channel":"c","limit":5}"#).command
        else { Issue.record("not history"); return }
        #expect(limit == 5 && since == nil)
        guard case .ping = try decode(#"{"type":"ping"}"#).command else { Issue.record("not ping"); return }
        guard case .presence = try decode(#"{"type":"presence","channel":"c"}"#).command else {
            Issue.record("not presence"); return
        }
        guard case .unsubscribe = try decode(#"{"type":"unsubscribe","channel":"c"}"#).command else {
            Issue.record("not unsub"); return
        }
    }

    @Test func refusesMalformedRequestsWithBadRequest() {
        let cases: [(String, String?)] = [
            ("not json", nil),
            (#"[1,2]"#, nil),
            (#"{"id":[1],"type":"ping"}"#, nil),
            (#"{"id":1}"#, "1"),
            (#"{"id":1,"type":"nope"}"#, "1"),
            (#"{"id":2,"type":"subscribe"}"#, "2"),
            (#"{"id":3,"type":"publish","channel":"a"}"#, "3"),
            (#"{"id":4,"type":"subscribe","channel":"a","history":-1}"#, "4"),
            (#"{"id":5,"type":"subscribe","channel":"a","recover":{"offset":"x"}}"#, "5"),
        ]
        for (text, id) in cases {
            do {
                _ = try decode(text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.code == .badRequest, "\(text)")
                #expect(error.id.map { String(buffer: $0) } == id, "\(text)")
            }
        }
    }
}
