import AMQPWire
import NIOCore
import Testing

/// connection.start-ok's SASL responses (PLAIN, RFC 4616; AMQPLAIN, a table body) and the server
/// properties of connection.start.
@Suite struct AMQPSASLTests {
    typealias B = AMQPBytes

    @Test func plain() throws {
        let response = ByteBuffer(bytes: [0] + Array("guest".utf8) + [0] + Array("pa ss".utf8))
        #expect(
            try AMQPSASL.credentials(mechanism: "PLAIN", response: response)
                == AMQPSASLCredentials(username: "guest", password: "pa ss"))
        #expect(AMQPSASL.plainResponse(username: "guest", password: "pa ss") == response)
        // An authorization identity is allowed and ignored.
        let withAuthzid = ByteBuffer(bytes: Array("admin".utf8) + [0, 0x75, 0, 0x70])
        #expect(try AMQPSASL.credentials(mechanism: "PLAIN", response: withAuthzid).username == "u")
    }

    @Test func malformedPlainIsARefusedLogin() {
        for bytes: [UInt8] in [[], [0, 0x75], [0, 0x75, 0, 0x70, 0, 0x71], [0, 0xFF, 0, 0x70]] {
            #expect(throws: AMQPError.authenticationFailed(mechanism: "PLAIN")) {
                try AMQPSASL.credentials(mechanism: "PLAIN", response: ByteBuffer(bytes: bytes))
            }
        }
        let reason = AMQPError.authenticationFailed(mechanism: "PLAIN").closeReason(channel: 0)
        #expect(reason.closesConnection)
        #expect(
            reason.close
                == AMQPClose(
                    replyCode: 403,
                    replyText:
                        "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.",
                    classID: 10, methodID: 11))
    }

    @Test func amqplainIsATableBodyWithoutItsLength() throws {
        // What py-amqp sends: the fields of {LOGIN, PASSWORD} without the table's 32-bit length.
        let response = ByteBuffer(
            bytes: B.ss("LOGIN") + [0x53] + B.ls("guest") + B.ss("PASSWORD") + [0x53] + B.ls("secret"))
        #expect(
            try AMQPSASL.credentials(mechanism: "AMQPLAIN", response: response)
                == AMQPSASLCredentials(username: "guest", password: "secret"))
        #expect(AMQPSASL.amqplainResponse(username: "guest", password: "secret") == response)
        let missingPassword = ByteBuffer(bytes: B.ss("LOGIN") + [0x53] + B.ls("guest"))
        #expect(throws: AMQPError.authenticationFailed(mechanism: "AMQPLAIN")) {
            try AMQPSASL.credentials(mechanism: "AMQPLAIN", response: missingPassword)
        }
    }

    @Test func unknownMechanism() {
        #expect(throws: AMQPError.unknownAuthenticationMechanism("EXTERNAL")) {
            try AMQPSASL.credentials(mechanism: "EXTERNAL", response: ByteBuffer())
        }
        #expect(AMQPError.unknownAuthenticationMechanism("X").closeReason(channel: 0).close.replyCode == 503)
    }

    @Test func serverPropertiesAndConnectionStart() throws {
        let start = AMQPServerProperties.connectionStart(version: "1.2.3")
        #expect(start.versionMajor == 0 && start.versionMinor == 9)
        #expect(start.mechanisms == "PLAIN AMQPLAIN")
        #expect(start.locales == "en_US")
        let properties = start.serverProperties
        #expect(properties["product"]?.stringValue == "Switchboard")
        #expect(properties["version"]?.stringValue == "1.2.3")
        guard case .table(let capabilities) = properties["capabilities"] else {
            Issue.record("no capabilities table")
            return
        }
        for name in [
            "publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
            "connection.blocked", "consumer_priorities", "authentication_failure_close", "per_consumer_qos",
            "direct_reply_to",
        ] {
            #expect(capabilities[name] == .boolean(true), "\(name)")
        }
        // It round-trips as the method a client receives.
        let method = AMQPMethod.connection(.start(start))
        #expect(try decodeMethodFrame(method.frameBytes(channel: 0)).1 == method)
    }
}
