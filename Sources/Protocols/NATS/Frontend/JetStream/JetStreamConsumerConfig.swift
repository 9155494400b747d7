package import BusCore

/// A JetStream consumer configuration (nats-server's `ConsumerConfig`): pull consumers, and push
/// consumers (`deliver_subject`, `deliver_group`, `flow_control`, `idle_heartbeat`, `headers_only`), every
/// deliver policy including `last_per_subject` (KV watchers).
package struct JetStreamConsumerConfig: Sendable, Equatable {
    package enum DeliverPolicy: String, Sendable {
        case all, last, new
        case byStartSequence = "by_start_sequence"
        case byStartTime = "by_start_time"
        case lastPerSubject = "last_per_subject"
    }

    package enum AckPolicy: String, Sendable {
        case none, all, explicit
    }

    package var name: String
    package var durableName: String?
    package var description: String?
    package var deliverPolicy: DeliverPolicy = .all
    package var optStartSequence: UInt64?
    /// ns since the Unix epoch.
    package var optStartTime: UInt64?
    package var ackPolicy: AckPolicy = .explicit
    /// Nanoseconds before an unacknowledged delivery is sent again (nats-server's default: 30 s).
    package var ackWait: UInt64 = Self.defaultAckWait
    /// -1: unlimited.
    package var maxDeliver: Int = -1
    /// `backoff` (ns): how long the n-th delivery waits for its ack (the last repeats); replaces `ackWait`
    /// (which becomes the first), as nats-server does. NAKs keep their own delay.
    package var backoff: [UInt64] = []
    package var filterSubjects: [String] = []
    package var maxWaiting: Int = 512
    /// -1: unlimited (nats-server's default is 1000 for explicit/all acks).
    package var maxAckPending: Int = 1000
    package var replayPolicy = "instant"
    /// A push consumer's delivery subject (nil: a pull consumer).
    package var deliverSubject: String?
    /// The queue group a push consumer's subscribers share (`deliver_group`).
    package var deliverGroup: String?
    /// Nanoseconds without pulls or acks after which an ephemeral consumer (no `durable_name`) is deleted;
    /// 0: nats-server's default for ephemerals (5 s); durable consumers stay.
    package var inactiveThreshold: UInt64 = 0
    /// A push consumer's flow control: it pauses after a `100 FlowControl Request` until the client answers.
    package var flowControl = false
    /// Nanoseconds without a delivery after which a push consumer sends `100 Idle Heartbeat` (0: never).
    package var idleHeartbeat: UInt64 = 0
    /// Deliveries carry the headers and `Nats-Msg-Size` instead of the payload.
    package var headersOnly = false
    /// `mem_storage`: the consumer's state in memory (kept in the config; consumers here keep state in
    /// memory unless durable).
    package var memoryStorage = false
    /// `num_replicas`: 0 (the stream's) or 1; one process keeps one copy (more → 10074).
    package var replicas = 0

    /// nats-server's default `inactive_threshold` of an ephemeral consumer.
    package static let defaultInactiveThreshold: UInt64 = 5_000_000_000

    /// nats-server's `JsAckWaitDefault`.
    package static let defaultAckWait: UInt64 = 30_000_000_000
    /// Longest consumer name (nats-server's `JSMaxNameLen`).
    package static let maxNameLength = 255

    package init(name: String) { self.name = name }

    /// Reads a create request's `config`; `name` is the consumer's name (from the subject, the config's
    /// `name` or `durable_name`, or generated for an ephemeral consumer).
    package init(json: [String: Any], name: String) throws(JetStreamAPIError) {
        self.init(name: name)
        durableName = JetStreamJSON.string(json, "durable_name").flatMap { $0.isEmpty ? nil : $0 }
        description = JetStreamJSON.string(json, "description")
        if let policy = JetStreamJSON.string(json, "deliver_policy") {
            guard let parsed = DeliverPolicy(rawValue: policy) else {
                throw .invalidConsumerPolicy("invalid deliver policy \(policy)")
            }
            deliverPolicy = parsed
        }
        if let sequence = JetStreamJSON.int(json, "opt_start_seq"), sequence > 0 { optStartSequence = UInt64(sequence) }
        if let time = JetStreamJSON.string(json, "opt_start_time") {
            guard let parsed = JetStreamJSON.parseTime(time) else {
                throw .invalidConsumerPolicy("invalid opt_start_time \(time)")
            }
            optStartTime = parsed
        }
        switch deliverPolicy {
        case .byStartSequence where optStartSequence == nil:
            throw .invalidConsumerPolicy(
                "consumer delivery policy is deliver by start sequence, but optional start sequence is not set")
        case .byStartTime where optStartTime == nil:
            throw .invalidConsumerPolicy(
                "consumer delivery policy is deliver by start time, but optional start time is not set")
        case .all, .last, .new, .lastPerSubject:
            if optStartSequence != nil || optStartTime != nil {
                throw .invalidConsumerPolicy(
                    "consumer delivery policy is deliver \(deliverPolicy.rawValue), but optional start sequence or time is also set"
                )
            }
        default:
            break
        }
        if let policy = JetStreamJSON.string(json, "ack_policy") {
            guard let parsed = AckPolicy(rawValue: policy) else { throw .invalidConsumerPolicy("invalid ack policy") }
            ackPolicy = parsed
        }
        if let wait = JetStreamJSON.int(json, "ack_wait"), wait > 0 { ackWait = UInt64(wait) }
        if let deliver = JetStreamJSON.int(json, "max_deliver"), deliver != 0 {
            maxDeliver = deliver < 0 ? -1 : deliver
        }
        if let values = json["backoff"] as? [Any], !values.isEmpty {
            guard let waits = JetStreamJSON.ints(json, "backoff"), waits.allSatisfy({ $0 > 0 }) else {
                throw .invalidConsumerPolicy("consumer backoff values must be positive durations")
            }
            // nats-server's JSConsumerMaxDeliverBackoffErr: every backoff step must be reachable.
            guard maxDeliver < 0 || maxDeliver > waits.count else {
                throw JetStreamAPIError(
                    code: 400, errCode: 10116, description: "max deliver is required to be > length of backoff values")
            }
            backoff = waits.map { UInt64($0) }
            ackWait = backoff[0]
        }
        if let waiting = JetStreamJSON.int(json, "max_waiting"), waiting > 0 { maxWaiting = waiting }
        if let pending = JetStreamJSON.int(json, "max_ack_pending"), pending != 0 {
            maxAckPending = pending < 0 ? -1 : pending
        }
        if ackPolicy == .none { maxAckPending = -1 }
        if let filter = JetStreamJSON.string(json, "filter_subject"), !filter.isEmpty { filterSubjects = [filter] }
        if let filters = JetStreamJSON.strings(json, "filter_subjects"), !filters.isEmpty {
            guard filterSubjects.isEmpty else {
                throw .invalidConsumerPolicy("consumer can not have both filter_subject and filter_subjects")
            }
            filterSubjects = filters
        }
        if let replay = JetStreamJSON.string(json, "replay_policy") {
            guard replay == "instant" || replay == "original" else {
                throw .invalidConsumerPolicy("invalid replay policy \(replay)")
            }
            replayPolicy = replay
        }
        if let threshold = JetStreamJSON.int(json, "inactive_threshold"), threshold > 0 {
            inactiveThreshold = UInt64(threshold)
        }
        flowControl = JetStreamJSON.bool(json, "flow_control") ?? false
        idleHeartbeat = UInt64(max(0, JetStreamJSON.int(json, "idle_heartbeat") ?? 0))
        headersOnly = JetStreamJSON.bool(json, "headers_only") ?? false
        memoryStorage = JetStreamJSON.bool(json, "mem_storage") ?? false
        replicas = max(0, JetStreamJSON.int(json, "num_replicas") ?? 0)
        guard replicas <= 1 else { throw .replicasNotSupported }
        if let subject = JetStreamJSON.string(json, "deliver_subject"), !subject.isEmpty {
            guard (try? NATSSubjectMapping.topicName(forSubject: subject)) != nil else {
                throw .invalidConsumerPolicy("consumer deliver subject has wildcards")
            }
            deliverSubject = subject
            deliverGroup = JetStreamJSON.string(json, "deliver_group").flatMap { $0.isEmpty ? nil : $0 }
        }
        if deliverSubject == nil && flowControl {
            // nats-server's JSConsumerFCRequiresPushErr.
            throw JetStreamAPIError(
                code: 400, errCode: 10089, description: "consumer flow control requires a push based consumer")
        }
        if deliverSubject == nil && idleHeartbeat > 0 {
            // nats-server's JSConsumerHBRequiresPushErr.
            throw JetStreamAPIError(
                code: 400, errCode: 10088, description: "consumer idle heartbeat requires a push based consumer")
        }
        if flowControl && idleHeartbeat == 0 {
            // nats-server's JSConsumerWithFlowControlNeedsHeartbeats: a stalled flow-control exchange is
            // only noticed through the heartbeats (`Nats-Consumer-Stalled`), so one without the other is refused.
            throw JetStreamAPIError(
                code: 400, errCode: 10108, description: "consumer with flow control also needs heartbeats")
        }
        _ = try filters()
    }

    /// The filters a message's topic must match (none: every message of the stream).
    package func filters() throws(JetStreamAPIError) -> [TopicFilter] {
        var filters: [TopicFilter] = []
        for subject in filterSubjects {
            do {
                filters.append(try TopicFilter(NATSSubjectMapping.filterText(forSubject: subject)))
            } catch {
                throw .invalidConsumerPolicy("invalid filter subject \(subject)")
            }
        }
        return filters
    }

    /// nats-server's `ConsumerConfig` JSON.
    package var json: [String: Any] {
        var json: [String: Any] = [
            "name": name, "deliver_policy": deliverPolicy.rawValue, "ack_policy": ackPolicy.rawValue,
            "ack_wait": ackWait, "max_deliver": maxDeliver, "replay_policy": replayPolicy,
            "max_waiting": maxWaiting, "max_ack_pending": maxAckPending, "num_replicas": replicas,
        ]
        if let durableName { json["durable_name"] = durableName }
        if !backoff.isEmpty { json["backoff"] = backoff }
        if let deliverSubject { json["deliver_subject"] = deliverSubject }
        if let deliverGroup { json["deliver_group"] = deliverGroup }
        if let threshold = removalThreshold { json["inactive_threshold"] = threshold }
        if let description { json["description"] = description }
        if flowControl { json["flow_control"] = true }
        if idleHeartbeat > 0 { json["idle_heartbeat"] = idleHeartbeat }
        if headersOnly { json["headers_only"] = true }
        if memoryStorage { json["mem_storage"] = true }
        if let optStartSequence { json["opt_start_seq"] = optStartSequence }
        if let optStartTime { json["opt_start_time"] = JetStreamJSON.time(optStartTime) }
        if filterSubjects.count == 1 {
            json["filter_subject"] = filterSubjects[0]
        } else if filterSubjects.count > 1 {
            json["filter_subjects"] = filterSubjects
        }
        return json
    }

    /// How long the `deliveries`-th delivery of a message waits for its ack.
    package func ackWait(forDelivery deliveries: Int) -> UInt64 {
        guard !backoff.isEmpty else { return ackWait }
        return backoff[min(max(deliveries, 1), backoff.count) - 1]
    }

    /// When an idle consumer is deleted (ns), or nil when it never is (a durable one without a threshold).
    package var removalThreshold: UInt64? {
        if inactiveThreshold > 0 { return inactiveThreshold }
        return durableName == nil ? Self.defaultInactiveThreshold : nil
    }

    /// A consumer name: not empty, no '.', '*', '>' nor whitespace, at most `maxNameLength` bytes.
    package static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maxNameLength
            && !name.utf8.contains {
                $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: ">") || $0 <= 0x20
            }
    }
}
