extension QueueArguments {
    /// The longest exchange name or routing key a protocol carries (AMQP short strings, §4.2.5.3).
    package static let maxNameBytes = 255

    /// A queue's `x-` arguments as a declare gave them (AMQP `queue.declare`'s table, STOMP `x-` headers),
    /// with RabbitMQ's checks: a value of the wrong type or range refuses the declare with its text
    /// (PRECONDITION_FAILED). Keys it does not know are ignored (they still take part in a redeclare's
    /// equivalence check, which compares the declared values).
    package init(declared: [String: HeaderValue], queue: String, vhost: String = "/") throws(BrokerRefusal) {
        self.init()
        func invalid(_ key: String, _ detail: String) -> BrokerRefusal {
            BrokerRefusal(
                .preconditionFailed, "invalid arg '\(key)' for queue '\(queue)' in vhost '\(vhost)': \(detail)")
        }
        func integer(_ key: String, _ value: HeaderValue) throws(BrokerRefusal) -> Int64 {
            guard case .integer(let number) = value else { throw invalid(key, "{unacceptable_type,\(value)}") }
            guard number >= 0 else { throw invalid(key, "{value_negative,\(number)}") }
            return number
        }
        func name(_ key: String, _ value: HeaderValue) throws(BrokerRefusal) -> String {
            guard case .string(let text) = value else { throw invalid(key, "{unacceptable_type,not_a_string}") }
            guard text.utf8.count <= Self.maxNameBytes else { throw invalid(key, "{too_long}") }
            return text
        }
        for (key, value) in declared.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "x-max-priority":
                maxPriority = UInt8(min(try integer(key, value), Int64(Self.highestMaxPriority)))
            case "x-message-ttl":
                messageTimeToLive = UInt64(try integer(key, value)) * 1_000_000
            case "x-expires":
                let number = try integer(key, value)
                guard number > 0 else { throw invalid(key, "{value_zero,0}") }
                expires = UInt64(number) * 1_000_000
            case "x-max-length":
                maxLength = Int(try integer(key, value))
            case "x-max-length-bytes":
                maxLengthBytes = Int(try integer(key, value))
            case "x-overflow":
                guard case .string(let text) = value, let policy = QueueOverflow(rawValue: text) else {
                    throw invalid(key, "{unknown_overflow_type,\(value)}")
                }
                overflow = policy
            case "x-dead-letter-exchange":
                deadLetterExchange = try name(key, value)
            case "x-dead-letter-routing-key":
                deadLetterRoutingKey = try name(key, value)
            case "x-single-active-consumer":
                guard case .bool(let flag) = value else { throw invalid(key, "{unacceptable_type,not_a_bool}") }
                singleActiveConsumer = flag
            case "x-queue-type":
                guard value == .string("classic") else {
                    throw BrokerRefusal(
                        .preconditionFailed,
                        "invalid arg 'x-queue-type' for queue '\(queue)' in vhost '\(vhost)': only classic queues are "
                            + "supported by this server")
                }
            default:
                continue
            }
        }
        if deadLetterRoutingKey != nil && deadLetterExchange == nil {
            throw BrokerRefusal(
                .preconditionFailed,
                "invalid arg 'x-dead-letter-routing-key' for queue '\(queue)' in vhost '\(vhost)': "
                    + "{routing_key_but_no_dlx_defined}")
        }
    }
}
