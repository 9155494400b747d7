import NIOCore
import SignalRWire
import Testing

/// Hub messages in JSON (HubProtocol.md §JSON Encoding): every example of the spec decodes to its
/// message, and the message encodes to the same example without its whitespace (members in the spec's
/// order, which is ASP.NET Core's); the protocol errors of §Errors and the missing-property checks of
/// ASP.NET Core's `JsonHubProtocol`.
@Suite struct SignalRJSONMessageTests {
    private func decode(_ text: String, limits: SignalRLimits = SignalRLimits()) throws -> SignalRHubMessage {
        try SignalRHubMessage.decodeJSON(ByteBuffer(string: text), limits: limits)
    }

    private func encode(_ message: SignalRHubMessage) -> String {
        var buffer = ByteBuffer()
        message.writeJSONObject(into: &buffer)
        return String(buffer: buffer)
    }

    private static func minified(_ text: String) -> String {
        // The examples hold no whitespace inside strings but "Test Message" and the error texts.
        var out = ""
        var inString = false
        for character in text {
            if character == "\"" { inString.toggle() }
            if inString || !character.isWhitespace { out.append(character) }
        }
        return out
    }

    static let examples: [(String, SignalRHubMessage)] = [
        (
            // Invocation
            #"{ "type": 1, "invocationId": "123", "target": "Send", "arguments": [ 42, "Test Message" ] }"#,
            .invocation(
                SignalRInvocation(
                    invocationID: "123", target: "Send", arguments: [.json("42"), .json("\"Test Message\"")]))
        ),
        (
            // Invocation (Non-Blocking)
            #"{ "type": 1, "target": "Send", "arguments": [ 42, "Test Message" ] }"#,
            .invocation(
                SignalRInvocation(
                    invocationID: nil, target: "Send", arguments: [.json("42"), .json("\"Test Message\"")]))
        ),
        (
            // Invocation with stream from Caller
            #"{ "type": 1, "invocationId": "123", "target": "Send", "arguments": [ 42 ], "streamIds": [ "1" ] }"#,
            .invocation(
                SignalRInvocation(invocationID: "123", target: "Send", arguments: [.json("42")], streamIDs: ["1"]))
        ),
        (
            // StreamInvocation
            #"{ "type": 4, "invocationId": "123", "target": "Send", "arguments": [ 42, "Test Message" ] }"#,
            .streamInvocation(
                SignalRStreamInvocation(
                    invocationID: "123", target: "Send", arguments: [.json("42"), .json("\"Test Message\"")]))
        ),
        (
            // StreamItem
            #"{ "type": 2, "invocationId": "123", "item": 42 }"#,
            .streamItem(SignalRStreamItem(invocationID: "123", item: .json("42")))
        ),
        (
            // Completion with no result or error, with a result, with an error
            #"{ "type": 3, "invocationId": "123" }"#,
            .completion(SignalRCompletion(invocationID: "123", outcome: .void))
        ),
        (
            #"{ "type": 3, "invocationId": "123", "result": 42 }"#,
            .completion(SignalRCompletion(invocationID: "123", outcome: .result(.json("42"))))
        ),
        (
            #"{ "type": 3, "invocationId": "123", "error": "It didn't work!" }"#,
            .completion(SignalRCompletion(invocationID: "123", outcome: .error("It didn't work!")))
        ),
        (
            // CancelInvocation
            #"{ "type": 5, "invocationId": "123" }"#,
            .cancelInvocation(SignalRCancelInvocation(invocationID: "123"))
        ),
        (#"{ "type": 6 }"#, .ping),
        (#"{ "type": 7 }"#, .close(SignalRClose())),
        (
            #"{ "type": 7, "error": "Connection closed because of an error!" }"#,
            .close(SignalRClose(error: "Connection closed because of an error!"))
        ),
        (
            #"{ "type": 7, "error": "Connection closed because of an error!", "allowReconnect": true }"#,
            .close(SignalRClose(error: "Connection closed because of an error!", allowReconnect: true))
        ),
        (#"{ "type": 8, "sequenceId": 1394 }"#, .ack(sequenceID: 1394)),
        (#"{ "type": 9, "sequenceId": 1234 }"#, .sequence(sequenceID: 1234)),
        (
            // JSON Header Encoding
            #"{ "type": 1, "headers": { "Foo": "Bar" }, "invocationId": "123", "target": "Send", "arguments": [ 42, "Test Message" ] }"#,
            .invocation(
                SignalRInvocation(
                    headers: [SignalRHeader(name: "Foo", value: "Bar")], invocationID: "123", target: "Send",
                    arguments: [.json("42"), .json("\"Test Message\"")]))
        ),
    ]

    @Test func decodesAndEncodesEveryExampleOfTheSpec() throws {
        for (text, message) in Self.examples {
            // As printed in the spec, with its line breaks and indentation.
            let printed = text.replacing(", ", with: ",\n    ")
            #expect(try decode(printed) == message, "\(text)")
            #expect(encode(message) == Self.minified(text))
        }
    }

    @Test func writeJSONEndsWithTheRecordSeparator() {
        var buffer = ByteBuffer()
        SignalRHubMessage.ping.writeJSON(into: &buffer)
        #expect(String(buffer: buffer) == "{\"type\":6}\u{1e}")
    }

    @Test func argumentsStayAsWritten() throws {
        let text =
            #"{"arguments":[ [1,[2,3]] , {"a":"x,]\"y","b":[{}]} , "s\\" ,-1.5e3,null,"\u001e"],"type":1,"target":"T"}"#
        guard case .invocation(let invocation) = try decode(text) else {
            Issue.record("not an invocation")
            return
        }
        #expect(
            invocation.arguments == [
                .json("[1,[2,3]]"), .json(#"{"a":"x,]\"y","b":[{}]}"#), .json(#""s\\""#), .json("-1.5e3"),
                .json("null"),
                .json(#""\u001e""#),
            ])
        guard case .invocation(let empty) = try decode(#"{"type":1,"target":"T","arguments":[ ]}"#) else { return }
        #expect(empty.arguments.isEmpty)
    }

    @Test func membersComeInAnyOrderAndUnknownOnesAreIgnored() throws {
        let text = #"{"result":{"k":[1]},"future":{"x":1},"invocationId":"7","type":3}"#
        #expect(
            try decode(text)
                == .completion(SignalRCompletion(invocationID: "7", outcome: .result(.json(#"{"k":[1]}"#)))))
        // An empty invocation id is none (a non-blocking invocation), as ASP.NET Core reads it.
        let nonBlocking = try decode(#"{"type":1,"invocationId":"","target":"T","arguments":[]}"#)
        #expect(nonBlocking == .invocation(SignalRInvocation(invocationID: nil, target: "T", arguments: [])))
        // A null result is a result.
        #expect(
            try decode(#"{"type":3,"invocationId":"1","result":null}"#)
                == .completion(SignalRCompletion(invocationID: "1", outcome: .result(.json("null")))))
    }

    @Test func unknownTypesAreLeftToTheCaller() throws {
        #expect(try decode(#"{"type":10,"anything":[1,2]}"#) == .unknown(type: 10))
        #expect(try decode(#"{"type":0}"#) == .unknown(type: 0))
        #expect(try decode(#"{"type":-3}"#) == .unknown(type: -3))
    }

    @Test func protocolErrors() {
        let cases: [(String, String)] = [
            (
                #"{"type":3,"invocationId":"123","result":42,"error":"It didn't work!"}"#,
                "The 'error' and 'result' properties are mutually exclusive."
            ),
            (#"{"invocationId":"1"}"#, "Missing required property 'type'."),
            (#"{"type":"1"}"#, "Expected 'type' to be of type Number."),
            (#"{"type":1.5}"#, "Expected 'type' to be an integer."),
            (#"{"type":1,"arguments":[]}"#, "Missing required property 'target'."),
            (#"{"type":1,"target":"T"}"#, "Missing required property 'arguments'."),
            (#"{"type":1,"target":"T","arguments":{}}"#, "Expected 'arguments' to be of type Array."),
            (#"{"type":4,"target":"T","arguments":[]}"#, "Missing required property 'invocationId'."),
            (#"{"type":2,"invocationId":"1"}"#, "Missing required property 'item'."),
            (#"{"type":3}"#, "Missing required property 'invocationId'."),
            (#"{"type":5,"invocationId":7}"#, "Expected 'invocationId' to be of type String."),
            (#"{"type":8}"#, "Missing required property 'sequenceId'."),
            (#"{"type":7,"allowReconnect":"yes"}"#, "Expected 'allowReconnect' to be of type Boolean."),
            (#"{"type":5,"invocationId":"1","headers":{"a":1}}"#, "Expected header 'a' to be of type String."),
            (#"{"type":1,"target":"T","arguments":[],"streamIds":[1]}"#, "Expected 'streamIds' to hold strings."),
            (#"{"type":1,"target":"T","arguments":[],"streamIds":[""]}"#, "Null or empty value in streamIds received."),
        ]
        for (text, message) in cases {
            #expect(throws: SignalRWireError.invalidMessage(message), "\(text)") { try decode(text) }
        }
        for text in ["", "[1]", "{\"type\":6", "{\"type\":6}}", "\u{91}\u{06}", "{\"type\":6,\"x\":\"\u{1}\"}"] {
            #expect(throws: SignalRWireError.self, "\(text)") { try decode(text) }
        }
    }

    @Test func idsAndStreamsAreBounded() throws {
        var limits = SignalRLimits()
        limits.maxInvocationIDBytes = 4
        limits.maxStreamIDs = 2
        #expect(throws: SignalRWireError.self) { try decode(#"{"type":5,"invocationId":"12345"}"#, limits: limits) }
        #expect(throws: SignalRWireError.self) {
            try decode(#"{"type":1,"invocationId":"12345","target":"T","arguments":[]}"#, limits: limits)
        }
        #expect(throws: SignalRWireError.self) {
            try decode(#"{"type":1,"target":"T","arguments":[],"streamIds":["1","2","3"]}"#, limits: limits)
        }
        #expect(throws: SignalRWireError.self) {
            try decode(#"{"type":1,"target":"T","arguments":[],"streamIds":["12345"]}"#, limits: limits)
        }
        #expect(throws: Never.self) { try decode(#"{"type":5,"invocationId":"1234"}"#, limits: limits) }
    }

    @Test func onlyInvocationMessagesAreTrackable() {
        // §Stateful Reconnect, "Trackable messages": the HubInvocationMessage types.
        let trackable = Self.examples.map(\.1).filter(\.isTrackable).map(\.type)
        #expect(Set(trackable) == [1, 2, 3, 4, 5])
        let untracked: [SignalRHubMessage] = [
            .ping, .close(SignalRClose()), .ack(sequenceID: 1), .sequence(sequenceID: 1),
        ]
        #expect(untracked.allSatisfy { !$0.isTrackable })
        #expect(!SignalRHubMessage.unknown(type: 10).isTrackable)
    }

    @Test func theErrorMessageFitsAClose() throws {
        let error = SignalRWireError.invalidMessage("Missing required property 'type'.")
        var buffer = ByteBuffer()
        SignalRHubMessage.close(SignalRClose(error: error.message)).writeJSON(into: &buffer)
        #expect(String(buffer: buffer) == "{\"type\":7,\"error\":\"Missing required property 'type'.\"}\u{1e}")
    }
}
