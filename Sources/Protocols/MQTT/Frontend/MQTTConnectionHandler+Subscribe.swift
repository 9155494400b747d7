import Atomics
import BusCore
import BusRuntime
import FrontendKit
import MQTTWire
import NIOCore

extension MQTTConnectionHandler {
    func subscribeReceived(_ packet: MQTTSubscribePacket) throws(MQTTError) {
        guard let session, let version else { throw .protocolError("SUBSCRIBE before CONNECT") }
        let identifier = packet.properties.subscriptionIdentifiers.first
        var codes: [MQTTReasonCode] = []
        var retainedToSend: [(BusMessage, MQTTQoS, Int?)] = []
        let settings = services.configuration.settings
        for request in packet.subscriptions {
            let filter: TopicFilter
            do { filter = try TopicFilter(request.filter, limits: bus.configuration.topicLimits) } catch {
                // [MQTT-3.8.4-6] a reason code per filter: an invalid filter (§4.7) fails that filter only (0x8F; 3.1.1: 0x80).
                codes.append(.topicFilterInvalid)
                continue
            }
            // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
            if filter.shareGroup != nil && request.noLocal { throw .protocolError("no local on a shared subscription") }
            guard identity.permissions.maySubscribe(filter) else {
                // 5.0: 0x87 Not Authorized; 3.1.1 SUBACK writes every failure as 0x80 ([MQTT-3.9.3-2]).
                services.counters.countPermissionDenied()
                codes.append(.notAuthorized)
                continue
            }
            if session.state.subscriptions[filter.text] == nil
                && session.state.subscriptions.count >= settings.maxSubscriptions
            {
                codes.append(.quotaExceeded)
                continue
            }
            let isNew = session.subscribe(
                filter, MQTTSessionState.Subscription(options: request, identifier: identifier))
            // [MQTT-3.8.4-7] the granted QoS is the requested one (we support up to 2).
            codes.append(MQTTReasonCode(request.maxQoS.rawValue))
            // Retained messages: not for shared subscriptions (§4.8.2); Retain Handling 0 always,
            // 1 only for a new subscription, 2 never ([MQTT-3.3.1-9], [MQTT-3.3.1-10], [MQTT-3.3.1-11]).
            let sendRetained = request.retainHandling == 0 || (request.retainHandling == 1 && isNew)
            if filter.shareGroup == nil && sendRetained {
                for message in services.retained.matching(filter, now: bus.clock()) {
                    retainedToSend.append((message, request.maxQoS, identifier))
                }
            }
        }
        let names = Array(session.state.subscriptions.keys)
        lifecycle.update { $0.subscriptions = names }
        // [MQTT-3.8.4-1] SUBACK with the same packet identifier, one code per filter ([MQTT-3.8.4-6]).
        let subAck = MQTTSubAckPacket(.subAck, packetID: packet.packetID, reasonCodes: codes)
        let answer = { [self] in
            write(.subAck(subAck))
            for (message, maxQoS, identifier) in retainedToSend {
                sendRetained(message, maxQoS: maxQoS, identifier: version == .v5 ? identifier : nil)
            }
        }
        // A persistent session's new subscriptions are stored before the SUBACK: a message acknowledged to
        // its publisher after the SUBACK is then owed to the session even across a crash. (Messages routed
        // to the subscription meanwhile may precede the SUBACK, which §3.8.4 allows.)
        guard session.persistent, let persistence = services.persistence else { return answer() }
        persistence.persist([], on: eventLoop) { [self] _ in
            answer()
            flushSoon()
        }
    }

    /// A retained message sent because of a new subscription carries RETAIN = 1 ([MQTT-3.3.1-8]).
    private func sendRetained(_ message: BusMessage, maxQoS: MQTTQoS, identifier: Int?) {
        guard let session else { return }
        let qos = MQTTQoS(rawValue: min(message.headers.qos ?? 0, maxQoS.rawValue))!
        let packet = MQTTMessageMapping.publishPacket(
            message, qos: qos, retain: true, subscriptionIdentifier: identifier)
        let window = outboundWindow
        if case .send(let packet) = session.state.offer(
            packet, expiresAt: message.headers.expiresAt, window: window, canSend: writable)
        {
            send(packet, expiresAt: message.headers.expiresAt)
        }
    }

    func unsubscribeReceived(_ packet: MQTTUnsubscribePacket) {
        guard let session else { return fail(.protocolError("UNSUBSCRIBE before CONNECT")) }
        // [MQTT-3.11.3-1] one reason code per filter: 0x00, or 0x11 when there was no such subscription.
        let codes = packet.filters.map { session.unsubscribe($0) ? MQTTReasonCode.success : .noSubscriptionExisted }
        let names = Array(session.state.subscriptions.keys)
        lifecycle.update { $0.subscriptions = names }
        write(.subAck(MQTTSubAckPacket(.unsubAck, packetID: packet.packetID, reasonCodes: codes)))
    }
}
