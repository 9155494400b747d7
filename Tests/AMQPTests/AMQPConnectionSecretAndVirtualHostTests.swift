import AMQPWire
import NIOCore
import Testing

/// Channel 0 as event → action sequences, for the rules pika's acceptance suite checks: connection.open's
/// vhost (`TestZ_AccessDenied`), connection.update-secret (RabbitMQ's extension, class 10 method 70;
/// `TestUpdateSecret`): the handler checks the secret, then update-secret-ok or RabbitMQ's 530
/// (rabbit_reader, `handle_method0`).
@Suite struct AMQPConnectionSecretAndVirtualHostTests {
    static let now = NIODeadline.uptimeNanoseconds(0)

    /// A machine through the handshake: header, start-ok (PLAIN guest/guest), tune-ok, and with `open`
    /// connection.open of "/".
    static func openMachine(open: Bool = true) -> AMQPConnectionStateMachine {
        var machine = AMQPConnectionStateMachine(limits: AMQPLimits(), now: now)
        #expect(machine.protocolHeaderReceived(.amqp0_9_1, now: now) == .sendStart)
        let startOk = AMQPConnectionStartOk(
            clientProperties: AMQPFieldTable(), mechanism: "PLAIN", response: ByteBuffer(string: "\0guest\0guest"),
            locale: "en_US")
        guard case .authenticate = machine.connectionMethodReceived(.startOk(startOk)) else {
            Issue.record("start-ok did not ask for authentication")
            return machine
        }
        guard case .sendTune = machine.authenticated(true) else {
            Issue.record("no tune after authentication")
            return machine
        }
        guard case .tuned = machine.connectionMethodReceived(.tuneOk(AMQPConnectionTune(limits: AMQPLimits()))) else {
            Issue.record("tune-ok refused")
            return machine
        }
        if open {
            #expect(machine.connectionMethodReceived(.open(virtualHost: "/")) == .openVirtualHost("/"))
            #expect(machine.virtualHostChecked(.accepted) == .sendOpenOk)
        }
        return machine
    }

    @Test func unknownVirtualHostClosesWithRabbitMQsText() {
        var machine = Self.openMachine(open: false)
        #expect(
            machine.connectionMethodReceived(.open(virtualHost: "no-such-vhost")) == .openVirtualHost("no-such-vhost"))
        #expect(
            machine.virtualHostChecked(.notFound("no-such-vhost"))
                == .sendClose(
                    AMQPClose(
                        replyCode: 530, replyText: "NOT_ALLOWED - vhost no-such-vhost not found", classID: 10,
                        methodID: 40)))
        #expect(!machine.isOpen)
    }

    @Test func emptyVirtualHostIsTheDefaultAndARefusedOneIs530() {
        var machine = Self.openMachine(open: false)
        #expect(machine.connectionMethodReceived(.open(virtualHost: "")) == .openVirtualHost("/"))
        #expect(
            machine.virtualHostChecked(.refused("tenant-a", user: "bob"))
                == .sendClose(
                    AMQPClose(
                        replyCode: 530, replyText: "NOT_ALLOWED - access to vhost 'tenant-a' refused for user 'bob'",
                        classID: 10, methodID: 40)))
    }

    @Test func acceptedSecretIsAnsweredWithUpdateSecretOk() {
        var machine = Self.openMachine()
        let secret = ByteBuffer(string: "new_secret")
        let update = AMQPConnectionMethod.updateSecret(newSecret: secret, reason: "reason")
        #expect(machine.connectionMethodReceived(update) == .checkSecret(secret))
        #expect(machine.secretChecked(true) == .sendUpdateSecretOk)
        #expect(machine.isOpen)
    }

    @Test func refusedSecretClosesWithNotAllowed() {
        var machine = Self.openMachine()
        _ = machine.connectionMethodReceived(.updateSecret(newSecret: ByteBuffer(string: "x"), reason: "r"))
        #expect(
            machine.secretChecked(false)
                == .sendClose(
                    AMQPClose(
                        replyCode: 530, replyText: "NOT_ALLOWED - New secret was refused by one of the backends",
                        classID: 10, methodID: 70)))
        #expect(machine.isClosing)
    }

    @Test func checkAnsweredAfterACloseIsDropped() {
        var machine = Self.openMachine()
        _ = machine.connectionMethodReceived(.updateSecret(newSecret: ByteBuffer(string: "x"), reason: "r"))
        _ = machine.closeRequested(.connectionForced, "shutdown")
        #expect(machine.secretChecked(true) == AMQPConnectionStateMachine.Action.none)
    }
}
