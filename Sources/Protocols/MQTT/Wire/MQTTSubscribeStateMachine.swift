/// SUBSCRIBE and UNSUBSCRIBE for a connected client (§3.8–§3.11): the reason code of every filter, the
/// subscriptions to make or take away, and the retained messages owed to them. A sub-machine of
/// `MQTTConnectionStateMachine` (as postgres-nio's `ExtendedQueryStateMachine` is of its connection
/// machine), which runs it only while connected. Its state is the session's subscription table
/// (`MQTTSessionState.subscriptions`), passed in `inout` because it outlives the connection; each event
/// updates it as the returned actions will, so a filter repeated in one packet counts as a replacement.
///
/// Wire cannot parse the bus's filters (their limits are the bus's configuration) nor see the client's
/// identity, so the handler passes those two facts in as one `FilterVerdict` per filter and this machine
/// decides what they mean.
package struct MQTTSubscribeStateMachine: Sendable {
    /// What the bus and the client's identity say about one requested filter.
    package enum FilterVerdict: Sendable, Hashable {
        /// Not a filter the bus takes (§4.7.1 wildcard placement, §4.8.2 `$share/` form, length and
        /// level limits).
        case invalid
        /// A valid filter the client may not subscribe to.
        case forbidden
        /// A valid filter the client may subscribe to.
        case permitted
    }

    /// Retained messages owed to a subscription just made, sent after the SUBACK.
    package struct RetainedRequest: Sendable, Hashable {
        /// The filter as the client wrote it.
        package var filter: String
        /// The subscription's Maximum QoS: a retained message goes at no higher QoS.
        package var maxQoS: MQTTQoS
        /// The subscription identifier the messages carry (5.0).
        package var identifier: Int?

        package init(filter: String, maxQoS: MQTTQoS, identifier: Int?) {
            self.filter = filter
            self.maxQoS = maxQoS
            self.identifier = identifier
        }
    }

    /// What the handler does, in order.
    package enum Action: Sendable, Hashable {
        /// Subscribe the session as `options` asks, replacing a subscription to the same filter.
        case subscribe(MQTTSessionState.Subscription)
        /// Take the session's subscription to this filter away.
        case unsubscribe(String)
        /// Send this SUBACK or UNSUBACK, then the retained messages for `retained`.
        case sendSubAck(MQTTSubAckPacket, retained: [RetainedRequest])
        /// The packet breaks a rule that ends the connection; nothing after this is done.
        case fail(MQTTError)
    }

    /// Most subscriptions per session (`MQTTServerSettings.maxSubscriptions`).
    package let maxSubscriptions: Int
    /// The reason code of a refused filter (`MQTTServerSettings.subscribeRefusalReason`).
    package let refusal: MQTTReasonCode

    package init(maxSubscriptions: Int, refusal: MQTTReasonCode = .notAuthorized) {
        self.maxSubscriptions = maxSubscriptions
        self.refusal = refusal
    }

    /// A SUBSCRIBE with one verdict per filter, in the packet's order.
    package func subscribeReceived(
        _ packet: MQTTSubscribePacket, verdicts: [FilterVerdict], session: inout MQTTSessionState
    ) -> [Action] {
        precondition(verdicts.count == packet.subscriptions.count, "one verdict per requested filter")
        // §3.8.2.1.2: the packet's Subscription Identifier (at most one, checked by the decoder) belongs to
        // every subscription it makes. 3.1.1 packets have no properties, hence none.
        let identifier = packet.properties.subscriptionIdentifiers.first
        var actions: [Action] = []
        var codes: [MQTTReasonCode] = []
        var retained: [RetainedRequest] = []
        for (request, verdict) in zip(packet.subscriptions, verdicts) {
            // [MQTT-3.8.4-6] a reason code per filter: an invalid filter (§4.7) fails that filter only
            // (0x8F; 3.1.1 SUBACK writes every failure as 0x80, [MQTT-3.9.3-2]).
            guard verdict != .invalid else {
                codes.append(.topicFilterInvalid)
                continue
            }
            // §4.8.2: a valid filter starting `$share/` is `$share/{ShareName}/{filter}`, a shared subscription.
            let shared = request.filter.hasPrefix("$share/")
            // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
            if shared && request.noLocal {
                actions.append(.fail(.protocolError("no local on a shared subscription")))
                return actions
            }
            // 5.0: 0x87 Not Authorized unless configured otherwise (3.1.1: 0x80, [MQTT-3.9.3-2]).
            guard verdict == .permitted else {
                codes.append(refusal)
                continue
            }
            let isNew = session.subscriptions[request.filter] == nil
            // At most `maxSubscriptions` per session: a new one past it gets 0x97; a replacement always fits.
            guard !isNew || session.subscriptions.count < maxSubscriptions else {
                codes.append(.quotaExceeded)
                continue
            }
            // [MQTT-3.8.4-3] a subscription to a filter already subscribed replaces it (no new retained
            // messages for Retain Handling 1, below).
            let subscription = MQTTSessionState.Subscription(options: request, identifier: identifier)
            session.subscriptions[request.filter] = subscription
            actions.append(.subscribe(subscription))
            // [MQTT-3.8.4-7] the granted QoS is the requested one: the server supports QoS 2.
            codes.append(MQTTReasonCode(request.maxQoS.rawValue))
            // Retained messages on subscribe: Retain Handling 0 always ([MQTT-3.3.1-9]), 1 only for a new
            // subscription ([MQTT-3.3.1-10]), 2 never ([MQTT-3.3.1-11]); never for a shared subscription (§4.8.2).
            let sendsRetained =
                switch request.retainHandling {
                case 0: true
                case 1: isNew
                default: false
                }
            if sendsRetained && !shared {
                retained.append(RetainedRequest(filter: request.filter, maxQoS: request.maxQoS, identifier: identifier))
            }
        }
        // [MQTT-3.8.4-1] SUBACK with the SUBSCRIBE's packet identifier, one code per filter in order ([MQTT-3.8.4-6]).
        actions.append(
            .sendSubAck(MQTTSubAckPacket(.subAck, packetID: packet.packetID, reasonCodes: codes), retained: retained))
        return actions
    }

    /// An UNSUBSCRIBE.
    package func unsubscribeReceived(_ packet: MQTTUnsubscribePacket, session: inout MQTTSessionState) -> [Action] {
        var actions: [Action] = []
        var codes: [MQTTReasonCode] = []
        for filter in packet.filters {
            // [MQTT-3.10.4-1] the subscription to exactly this filter (compared character by character) is
            // deleted; [MQTT-3.11.3-1] one code per filter: 0x00, or 0x11 when there was none (5.0).
            if session.subscriptions.removeValue(forKey: filter) != nil {
                actions.append(.unsubscribe(filter))
                codes.append(.success)
            } else {
                codes.append(.noSubscriptionExisted)
            }
        }
        // [MQTT-3.10.4-4] UNSUBACK with the UNSUBSCRIBE's packet identifier (3.1.1: without codes).
        actions.append(
            .sendSubAck(MQTTSubAckPacket(.unsubAck, packetID: packet.packetID, reasonCodes: codes), retained: []))
        return actions
    }
}
