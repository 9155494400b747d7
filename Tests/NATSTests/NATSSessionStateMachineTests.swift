import BusCore
import NIOCore
import Testing

@testable import NATSWire

/// Event → action sequences of the session state machine and its sub-machines: every protocol rule the
/// handler used to decide, with time passed in.
@Suite struct NATSSessionStateMachineTests {
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// A machine whose connection started at `t0` (INFO asked for).
    static func started(
        authenticationRequired: Bool = false, configure: (inout NATSLimits) -> Void = { _ in }
    ) -> NATSSessionStateMachine {
        var limits = NATSLimits()
        limits.pingIntervalSeconds = 10
        limits.maxPingsOut = 2
        limits.authTimeoutSeconds = 2
        configure(&limits)
        var machine = NATSSessionStateMachine(
            configuration: .init(authenticationRequired: authenticationRequired, limits: limits))
        #expect(machine.connectionStarted(now: t0) == .sendInfo)
        return machine
    }

    static func options(_ change: (inout NATSConnectOptions) -> Void) -> NATSConnectOptions {
        var options = NATSConnectOptions()
        change(&options)
        return options
    }

    /// A machine after an accepted CONNECT with these options.
    static func connected(
        _ change: (inout NATSConnectOptions) -> Void = { _ in }, permissions: TopicPermissions = .unrestricted,
        configure: (inout NATSLimits) -> Void = { _ in }
    ) -> NATSSessionStateMachine {
        var machine = started(configure: configure)
        let options = Self.options(change)
        #expect(
            machine.connectReceived(options, authenticated: true, permissions: permissions)
                == .acceptConnect(name: options.name, acknowledge: options.verbose))
        return machine
    }

    // MARK: - CONNECT and authentication

    @Test func withoutAuthenticationOperationsMayPrecedeConnect() {
        var machine = Self.started()
        #expect(machine.pingReceived() == .sendPong)
        #expect(machine.publishReceived(hasHeaders: false) == .publish(acknowledge: false))
        let options = Self.options {
            $0.verbose = true
            $0.name = "n"
        }
        #expect(machine.connectReceived(options, authenticated: true) == .acceptConnect(name: "n", acknowledge: true))
        #expect(machine.publishReceived(hasHeaders: false) == .publish(acknowledge: true))
    }

    @Test func withAuthenticationAnythingBeforeConnectIsAViolation() {
        var machine = Self.started(authenticationRequired: true)
        #expect(
            machine.subscribeReceived(subject: "a", queue: nil, sid: "1") == .sendErrorAndClose(.authorizationViolation)
        )
        #expect(machine.isClosed)
        #expect(machine.pingReceived() == .none)
        #expect(machine.publishReceived(hasHeaders: false) == .ignore)

        var publishing = Self.started(authenticationRequired: true)
        #expect(publishing.publishReceived(hasHeaders: false) == .refuseAndClose(.authorizationViolation))
        #expect(publishing.isClosed)

        var pinging = Self.started(authenticationRequired: true)
        #expect(pinging.pingReceived() == .sendErrorAndClose(.authorizationViolation))
    }

    @Test func refusedCredentials() {
        var machine = Self.started(authenticationRequired: true)
        #expect(
            machine.connectReceived(NATSConnectOptions(), authenticated: false)
                == .sendErrorAndClose(.authorizationViolation))
        #expect(machine.isClosed)
        #expect(machine.connectReceived(NATSConnectOptions(), authenticated: true) == .none)
    }

    @Test func connectOptionChecks() {
        var machine = Self.started()
        #expect(
            machine.connectReceived(Self.options { $0.protocolLevel = 2 }, authenticated: true)
                == .sendErrorAndClose(.badClientProtocol))
        #expect(machine.isClosed)
        machine = Self.started()
        #expect(
            machine.connectReceived(Self.options { $0.noResponders = true }, authenticated: true)
                == .sendErrorAndClose(.noRespondersRequiresHeaders))
        machine = Self.started()
        #expect(
            machine.connectReceived(Self.options { $0.protocolLevel = 1 }, authenticated: true)
                == .acceptConnect(name: nil, acknowledge: false))
    }

    @Test func authenticationTimeoutIsComputedFromTheStart() {
        var machine = Self.started(authenticationRequired: true)
        #expect(machine.tick(now: Self.t0 + .milliseconds(1_999)) == .none)
        #expect(machine.tick(now: Self.t0 + .seconds(2)) == .sendErrorAndClose(.authenticationTimeout))
        #expect(machine.isClosed)
        #expect(machine.tick(now: Self.t0 + .seconds(3)) == .none)

        var connected = Self.started(authenticationRequired: true)
        _ = connected.connectReceived(NATSConnectOptions(), authenticated: true)
        #expect(connected.tick(now: Self.t0 + .seconds(5)) == .none)
        #expect(!connected.isClosed)

        var anonymous = Self.started()
        #expect(anonymous.tick(now: Self.t0 + .seconds(5)) == .none)
    }

    @Test func expiredCredentialsClose() {
        var machine = Self.connected()
        #expect(machine.tick(now: Self.t0, credentialsExpired: true) == .sendErrorAndClose(.userAuthenticationExpired))
        #expect(machine.isClosed)
    }

    // MARK: - Keep-alive

    @Test func pingsUntilStale() {
        var machine = Self.connected()
        #expect(machine.tick(now: Self.t0 + .seconds(9)) == .none)
        #expect(machine.tick(now: Self.t0 + .seconds(10)) == .sendPing)
        #expect(machine.pongReceived() == .none)
        #expect(machine.tick(now: Self.t0 + .seconds(20)) == .sendPing)
        #expect(machine.tick(now: Self.t0 + .seconds(25)) == .none)  // the next interval starts at the ping
        #expect(machine.tick(now: Self.t0 + .seconds(30)) == .sendPing)
        #expect(machine.tick(now: Self.t0 + .seconds(40)) == .sendErrorAndClose(.staleConnection))
        #expect(machine.isClosed)
        #expect(machine.tick(now: Self.t0 + .seconds(50)) == .none)
    }

    @Test func activeClientsAreNotPinged() {
        var machine = Self.connected()
        machine.dataReceived()
        #expect(machine.tick(now: Self.t0 + .seconds(10)) == .none)
        #expect(machine.tick(now: Self.t0 + .seconds(20)) == .sendPing)
    }

    // MARK: - PUB / HPUB

    @Test func headersOnlyAfterConnectAsksForThem() {
        var before = Self.started()
        #expect(before.publishReceived(hasHeaders: true) == .refuseAndClose(.headersNotEnabled))
        #expect(before.isClosed)

        var without = Self.connected()
        #expect(without.publishReceived(hasHeaders: true) == .refuseAndClose(.headersNotEnabled))
        #expect(without.isClosed)

        var with = Self.connected { $0.headers = true }
        #expect(with.publishReceived(hasHeaders: true) == .publish(acknowledge: false))
        #expect(with.session.headers)
    }

    @Test func publishSubjectsAndPermissions() throws {
        let permissions = TopicPermissions(publish: .only([try TopicFilter("users/alice/#")]))
        let machine = Self.connected(permissions: permissions)
        let alice = try Topic("users/alice/x")
        let inbox = try Topic("_INBOX/1")
        #expect(machine.publishSubjectReceived("users.alice.x") == .publish(alice))
        #expect(machine.publishSubjectReceived("users.bob.x") == .refuse(.publishPermissionsViolation("users.bob.x")))
        // Not pedantic (nats-server's default): a wildcard token is a literal level, checked like any topic.
        #expect(machine.publishSubjectReceived("users.alice.*") == .publish(try Topic("users/alice/*")))
        #expect(machine.publishSubjectReceived("users.*") == .refuse(.publishPermissionsViolation("users.*")))
        // A reply subject is checked as a subject, not against the publish permission.
        #expect(machine.publishSubjectReceived("_INBOX.1", isReply: true) == .publish(inbox))
        #expect(machine.publishSubjectReceived("_INBOX.>", isReply: true) == .refuse(.invalidPublishSubject))
    }

    @Test func aPedanticClientsWildcardAndEmptyTokensAreRefused() throws {
        let loose = Self.connected()
        #expect(loose.publishSubjectReceived("kv.a.*") == .publish(try Topic("kv/a/*")))
        #expect(loose.publishSubjectReceived("kv.>.x") == .publish(try Topic("kv/>/x")))
        #expect(loose.publishSubjectReceived("a..b") == .publish(try Topic("a//b")))
        #expect(loose.publishSubjectReceived("") == .refuse(.invalidPublishSubject))
        let pedantic = Self.connected { $0.pedantic = true }
        #expect(pedantic.publishSubjectReceived("kv.a.*") == .refuse(.invalidPublishSubject))
        #expect(pedantic.publishSubjectReceived("kv.>") == .refuse(.invalidPublishSubject))
        #expect(pedantic.publishSubjectReceived("a..b") == .refuse(.invalidPublishSubject))
        #expect(pedantic.publishSubjectReceived("kv.a.b") == .publish(try Topic("kv/a/b")))
    }

    @Test func noRespondersOnlyWhenAsked() throws {
        let reply = ByteBuffer(string: "_INBOX.1")
        let topic = try Topic("_INBOX/1")
        let asked = Self.connected {
            $0.headers = true
            $0.noResponders = true
        }
        #expect(asked.answersNoResponders)
        #expect(
            asked.requestFoundNoSubscribers(replySubject: reply, replyTopic: topic)
                == .sendNoResponders(replySubject: reply, replyTopic: topic))
        let notAsked = Self.connected { $0.headers = true }
        #expect(!notAsked.answersNoResponders)
        #expect(notAsked.requestFoundNoSubscribers(replySubject: reply, replyTopic: topic) == .none)
    }

    // MARK: - SUB / UNSUB

    @Test func subscribeMapsTheSubjectAndEcho() throws {
        var machine = Self.connected { $0.echo = false }
        let filter = try TopicFilter("a/+")
        #expect(
            machine.subscribeReceived(subject: "a.*", queue: nil, sid: "1")
                == .subscribe(sid: "1", subject: "a.*", filter: filter, noLocal: true, acknowledge: false))
        #expect(machine.subscribeReceived(subject: "a..b", queue: nil, sid: "2") == .sendError(.invalidSubject))
        #expect(!machine.isClosed)
    }

    @Test func sidRules() {
        var machine = Self.connected { $0.verbose = true }
        guard case .subscribe = machine.subscribeReceived(subject: "a", queue: nil, sid: "1") else {
            Issue.record("SUB refused")
            return
        }
        // nats-server: a repeated sid and an unknown sid are no-ops (acknowledged in verbose mode).
        #expect(machine.subscribeReceived(subject: "b", queue: nil, sid: "1") == .acknowledge)
        #expect(machine.unsubscribeReceived(sid: "9", maxMessages: nil, delivered: 0) == .acknowledge)
        #expect(
            machine.unsubscribeReceived(sid: "1", maxMessages: nil, delivered: 0)
                == .unsubscribe(sid: "1", acknowledge: true))
        #expect(machine.unsubscribeReceived(sid: "1", maxMessages: nil, delivered: 0) == .acknowledge)
    }

    @Test func maxSubscriptions() {
        var machine = Self.connected(configure: { $0.maxSubscriptions = 1 })
        _ = machine.subscribeReceived(subject: "a", queue: nil, sid: "1")
        #expect(machine.subscribeReceived(subject: "b", queue: nil, sid: "2") == .sendError(.maxSubscriptionsExceeded))
        #expect(!machine.isClosed)
        _ = machine.unsubscribeReceived(sid: "1", maxMessages: nil, delivered: 0)
        guard case .subscribe = machine.subscribeReceived(subject: "b", queue: nil, sid: "2") else {
            Issue.record("SUB refused after UNSUB freed a place")
            return
        }
    }

    @Test func subscriptionPermissions() throws {
        let permissions = TopicPermissions(subscribe: .only([try TopicFilter("users/alice/#")]))
        var machine = Self.connected(permissions: permissions)
        #expect(
            machine.subscribeReceived(subject: "users.>", queue: "q", sid: "1")
                == .sendError(.subscriptionPermissionsViolation("users.>", queue: "q")))
        guard case .subscribe = machine.subscribeReceived(subject: "users.alice.*", queue: nil, sid: "2") else {
            Issue.record("a permitted SUB was refused")
            return
        }
    }

    @Test func unsubscribeAfterMaxMessages() {
        var machine = Self.connected()
        _ = machine.subscribeReceived(subject: "a", queue: nil, sid: "1")
        #expect(
            machine.unsubscribeReceived(sid: "1", maxMessages: 3, delivered: 1)
                == .limitDeliveries(sid: "1", maxMessages: 3, acknowledge: false))
        #expect(machine.deliveryLimitReached(sid: "1") == .unsubscribe(sid: "1", acknowledge: false))
        // Gone: a later UNSUB is a no-op.
        #expect(machine.unsubscribeReceived(sid: "1", maxMessages: nil, delivered: 0) == .none)
        // A limit already reached ends the subscription at once (nats-server counts every message).
        _ = machine.subscribeReceived(subject: "a", queue: nil, sid: "2")
        #expect(
            machine.unsubscribeReceived(sid: "2", maxMessages: 2, delivered: 2)
                == .unsubscribe(sid: "2", acknowledge: false))
    }

    // MARK: - Errors and closing

    @Test func errorsThatKeepTheConnection() {
        var machine = Self.connected()
        #expect(machine.errorOccurred(.invalidSubject) == .sendError(.invalidSubject))
        #expect(!machine.isClosed)
        #expect(machine.errorOccurred(.maxPayloadViolation) == .sendErrorAndClose(.maxPayloadViolation))
        #expect(machine.isClosed)
        #expect(machine.errorOccurred(.unknownOperation) == .none)
    }

    @Test func serverCloses() {
        var machine = Self.connected()
        #expect(machine.closeRequested(.closedByAdministrator) == .sendErrorAndClose(.closedByAdministrator))
        #expect(machine.closeRequested(nil) == .none)
        var shuttingDown = Self.connected()
        #expect(shuttingDown.closeRequested(nil) == .close)
        var slow = Self.connected()
        #expect(slow.outboundOverflowed() == .closeSlowConsumer)
        #expect(slow.outboundOverflowed() == .none)
        #expect(slow.isClosed)
        var refused = Self.started()
        #expect(refused.closeRequested(.maxConnectionsExceeded) == .sendErrorAndClose(.maxConnectionsExceeded))
    }

    /// Lame-duck mode reaches every client that has had its INFO, connected or not, and no closed one.
    @Test func lameDuckModeIsAnnouncedToOpenConnections() {
        var connected = Self.connected()
        #expect(connected.lameDuckEntered() == .sendLameDuckInfo)
        #expect(!connected.isClosed)
        var waiting = Self.started()
        #expect(waiting.lameDuckEntered() == .sendLameDuckInfo)
        var closed = Self.connected()
        _ = closed.closeRequested(nil)
        #expect(closed.lameDuckEntered() == .none)
    }

    /// The one error → wire map: the reference server's texts, and which errors keep the connection.
    @Test func errorTexts() {
        let expected: [(NATSProtocolError, String, Bool)] = [
            (.unknownOperation, "Unknown Protocol Operation", true),
            (.malformed("x"), "Unknown Protocol Operation: x", true),
            (.maxControlLineExceeded, "Maximum Control Line Exceeded", true),
            (.maxPayloadViolation, "Maximum Payload Violation", true),
            (.authorizationViolation, "Authorization Violation", true),
            (.authenticationTimeout, "Authentication Timeout", true),
            (.staleConnection, "Stale Connection", true),
            (.slowConsumer, "Slow Consumer", true),
            (.closedByAdministrator, "Connection Closed By Administrator", true),
            (.maxConnectionsExceeded, "maximum connections exceeded", true),
            (.invalidSubject, "Invalid Subject", false),
            (.invalidPublishSubject, "Invalid Publish Subject", false),
            (.maxSubscriptionsExceeded, "maximum subscriptions exceeded", false),
            (.publishPermissionsViolation("a"), "Permissions Violation for Publish to \"a\"", false),
            (
                .subscriptionPermissionsViolation("a", queue: "q"),
                "Permissions Violation for Subscription to \"a\" using queue \"q\"", false
            ),
        ]
        for (error, text, closes) in expected {
            #expect(error.text == text)
            #expect(error.closesConnection == closes, "\(error)")
        }
    }
}
