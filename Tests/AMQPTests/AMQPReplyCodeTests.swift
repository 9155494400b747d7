import AMQPWire
import NIOCore
import Testing

/// Reply codes (§1.2 constants), RabbitMQ's reply texts, and the one map from errors to closes.
@Suite struct AMQPReplyCodeTests {
    @Test func everyCodeAndItsLevel() {
        let channelLevel: [UInt16] = [311, 312, 313, 403, 404, 405, 406]
        let connectionLevel: [UInt16] = [320, 402, 501, 502, 503, 504, 505, 506, 530, 540, 541]
        #expect(AMQPReplyCode.allCases.count == 19)
        for code in AMQPReplyCode.allCases {
            if channelLevel.contains(code.rawValue) { #expect(!code.isConnectionException, "\(code)") }
            if connectionLevel.contains(code.rawValue) { #expect(code.isConnectionException, "\(code)") }
        }
        #expect(Set(AMQPReplyCode.allCases.map(\.rawValue)) == Set(channelLevel + connectionLevel + [200]))
    }

    @Test func rabbitMQReplyTexts() {
        #expect(
            AMQPReplyCode.notFound.replyText("no queue 'x' in vhost '/'") == "NOT_FOUND - no queue 'x' in vhost '/'")
        #expect(
            AMQPReplyCode.preconditionFailed.replyText("unknown delivery tag 3")
                == "PRECONDITION_FAILED - unknown delivery tag 3")
        #expect(AMQPReplyCode.accessRefused.replyText("x").hasPrefix("ACCESS_REFUSED - "))
        #expect(AMQPReplyCode.commandInvalid.replyText("x").hasPrefix("COMMAND_INVALID - "))
        #expect(AMQPReplyCode.frameError.replyText("x").hasPrefix("FRAME_ERROR - "))
        #expect(AMQPReplyCode.unexpectedFrame.replyText("x").hasPrefix("UNEXPECTED_FRAME - "))
        #expect(AMQPReplyCode.channelError.replyText("x").hasPrefix("CHANNEL_ERROR - "))
        #expect(AMQPReplyCode.notImplemented.replyText("x").hasPrefix("NOT_IMPLEMENTED - "))
        #expect(AMQPReplyCode.internalError.replyText("x").hasPrefix("INTERNAL_ERROR - "))
        #expect(AMQPReplyCode.resourceLocked.replyText("x").hasPrefix("RESOURCE_LOCKED - "))
    }

    @Test func longTextsAreCutToAShortString() {
        // rabbit_binary_generator: 252 bytes and "...", never a broken character.
        let text = AMQPReplyCode.notFound.replyText(String(repeating: "é", count: 200))
        #expect(text.utf8.count <= 255)
        #expect(text.hasSuffix("..."))
        #expect(text.hasPrefix("NOT_FOUND - éé"))
        let ascii = AMQPReplyCode.notFound.replyText(String(repeating: "a", count: 300))
        #expect(ascii.utf8.count == 255)
        // The cut text still encodes as a close.
        let close = AMQPMethod.channel(.close(AMQPClose(replyCode: 404, replyText: text)))
        #expect(throws: Never.self) { try decodeMethodFrame(close.frameBytes(channel: 1)) }
    }

    @Test func closeReasons() {
        // A channel exception closes the channel...
        let notFound = AMQPError.exception(.notFound, "no queue 'q' in vhost '/'", classID: 50, methodID: 10)
        #expect(
            notFound.closeReason(channel: 3)
                == AMQPCloseReason(
                    closesConnection: false,
                    close: AMQPClose(
                        replyCode: 404, replyText: "NOT_FOUND - no queue 'q' in vhost '/'", classID: 50, methodID: 10)))
        #expect(notFound.closeReason(channel: 3).method == .channel(.close(notFound.closeReason(channel: 3).close)))
        // ... but on channel 0 it closes the connection.
        #expect(notFound.closeReason(channel: 0).closesConnection)
        // A connection exception closes the connection from any channel.
        let frame = AMQPError.unexpectedFrame("x", classID: 60, methodID: 40).closeReason(channel: 7)
        #expect(frame.closesConnection)
        #expect(frame.method == .connection(.close(frame.close)))
        #expect(
            AMQPError.unknownMethod(classID: 60, methodID: 99).closeReason(channel: 1).close
                == AMQPClose(
                    replyCode: 540, replyText: "NOT_IMPLEMENTED - unknown method {60, 99}", classID: 60, methodID: 99))
        #expect(
            AMQPError.malformed("truncated octet", classID: 60, methodID: 80).closeReason(channel: 1).close.replyText
                == "FRAME_ERROR - cannot decode basic.ack: truncated octet")
    }
}
