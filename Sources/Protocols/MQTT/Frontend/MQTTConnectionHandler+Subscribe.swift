import Atomics
import BusCore
import BusRuntime
import FrontendKit
import MQTTWire
import NIOCore

extension MQTTConnectionHandler {
    /// SUBSCRIBE: the rules are the state machine's (`MQTTSubscribeStateMachine`); what it cannot know —
    /// whether the bus takes each filter and whether this identity may subscribe to it — is decided here
    /// and passed in.
    func subscribeReceived(_ packet: MQTTSubscribePacket) {
        guard let session else { return fail(.protocolError("SUBSCRIBE before CONNECT")) }
        let verdicts = packet.subscriptions.map { request -> MQTTSubscribeStateMachine.FilterVerdict in
            guard let filter = try? TopicFilter(request.filter, limits: topicLimits) else { return .invalid }
            return identity.permissions.maySubscribe(filter) ? .permitted : .forbidden
        }
        for action in machine.subscribeReceived(packet, verdicts: verdicts, session: &session.state) { run(action) }
        subscriptionsChanged()
    }

    func unsubscribeReceived(_ packet: MQTTUnsubscribePacket) {
        guard let session else { return fail(.protocolError("UNSUBSCRIBE before CONNECT")) }
        for action in machine.unsubscribeReceived(packet, session: &session.state) { run(action) }
        subscriptionsChanged()
    }

    /// The registry entry lists the session's filters (admin API).
    private func subscriptionsChanged() {
        guard let session else { return }
        let names = Array(session.state.subscriptions.keys)
        lifecycle.update { $0.subscriptions = names }
    }

    /// Sends SUBACK (or UNSUBACK), then the retained messages the machine asked for.
    func sendSubAck(_ subAck: MQTTSubAckPacket, retained: [MQTTSubscribeStateMachine.RetainedRequest]) {
        let refusal = MQTTReasonCode(services.configuration.settings.subscribeRefusalReason)
        for code in subAck.reasonCodes where code == refusal { services.counters.countPermissionDenied() }
        // The retained messages as they are now, when the subscriptions were made.
        var messages: [(BusMessage, MQTTSubscribeStateMachine.RetainedRequest)] = []
        for request in retained {
            guard let filter = try? TopicFilter(request.filter, limits: topicLimits) else { continue }
            for message in services.retained.matching(filter, now: bus.clock()) { messages.append((message, request)) }
        }
        let answer = { [self] in
            write(.subAck(subAck))
            for (message, request) in messages { sendRetained(message, request) }
        }
        // A persistent session's new subscriptions are stored before the SUBACK: a message acknowledged to
        // its publisher after the SUBACK is then owed to the session even across a crash. (Messages routed
        // to the subscription meanwhile may precede the SUBACK, which §3.8.4 allows.)
        guard subAck.kind == .subAck, let session, session.persistent, let persistence = services.persistence else {
            return answer()
        }
        persistence.persist([], on: eventLoop) { [self] _ in
            answer()
            flushSoon()
        }
    }

    /// A retained message sent because of a new subscription carries RETAIN = 1 ([MQTT-3.3.1-8]), at no
    /// more than the subscription's Maximum QoS.
    private func sendRetained(_ message: BusMessage, _ request: MQTTSubscribeStateMachine.RetainedRequest) {
        guard let session else { return }
        let qos = MQTTQoS(rawValue: min(message.headers.qos ?? 0, request.maxQoS.rawValue))!
        let packet = MQTTMessageMapping.publishPacket(
            message, qos: qos, retain: true, subscriptionIdentifiers: request.identifier.map { [$0] } ?? [])
        let window = outboundWindow
        if case .send(let packet) = session.state.offer(
            packet, expiresAt: message.headers.expiresAt, window: window, canSend: writable)
        {
            send(packet, expiresAt: message.headers.expiresAt)
        }
    }
}
