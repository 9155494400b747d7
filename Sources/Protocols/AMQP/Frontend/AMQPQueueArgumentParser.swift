import AMQPWire
import BusCore
import NIOCore

/// A `queue.declare`'s `x-` arguments as the broker's `QueueArguments`, with RabbitMQ's checks: a value of
/// the wrong type or range refuses the declare with 406 and RabbitMQ's text. Unknown keys are kept for
/// the equivalence check and otherwise ignored, as RabbitMQ does.
enum AMQPQueueArgumentParser {
    /// Stored arguments (the broker's neutral values) through the same rules.
    static func parse(_ values: [String: HeaderValue], queue: String) throws(BrokerRefusal) -> QueueArguments {
        let table = AMQPFieldTable(
            values.sorted { $0.key < $1.key }.map { name, value in
                let field: AMQPFieldValue =
                    switch value {
                    case .string(let text), .other(let text): .string(text)
                    case .bool(let flag): .boolean(flag)
                    case .integer(let number): .int64(number)
                    case .double(let number): .double(number)
                    case .bytes(let bytes): .bytes(ByteBuffer(bytes: bytes))
                    case .void: .void
                    }
                return AMQPFieldTable.Field(name: name, value: field)
            })
        return try parse(table, queue: queue)
    }

    static func parse(_ table: AMQPFieldTable, queue: String) throws(BrokerRefusal) -> QueueArguments {
        var arguments = QueueArguments()
        func invalid(_ key: String, _ detail: String) -> BrokerRefusal {
            BrokerRefusal(.preconditionFailed, "invalid arg '\(key)' for queue '\(queue)' in vhost '/': \(detail)")
        }
        func integer(_ key: String, _ value: AMQPFieldValue) throws(BrokerRefusal) -> Int64 {
            guard case .integer(let number) = AMQPMessageMapping.headerValue(value) else {
                throw invalid(key, "{unacceptable_type,\(Character(UnicodeScalar(value.typeLetter)))}")
            }
            guard number >= 0 else { throw invalid(key, "{value_negative,\(number)}") }
            return number
        }
        for field in table.fields {
            let key = field.name
            let value = field.value
            switch key {
            case "x-max-priority":
                let number = try integer(key, value)
                arguments.maxPriority = UInt8(min(number, Int64(QueueArguments.highestMaxPriority)))
            case "x-message-ttl":
                arguments.messageTimeToLive = UInt64(try integer(key, value)) * 1_000_000
            case "x-expires":
                let number = try integer(key, value)
                guard number > 0 else { throw invalid(key, "{value_zero,0}") }
                arguments.expires = UInt64(number) * 1_000_000
            case "x-max-length":
                arguments.maxLength = Int(try integer(key, value))
            case "x-max-length-bytes":
                arguments.maxLengthBytes = Int(try integer(key, value))
            case "x-overflow":
                guard let text = value.stringValue, let overflow = QueueOverflow(rawValue: text) else {
                    throw invalid(key, "{unknown_overflow_type,\(value.stringValue ?? "?")}")
                }
                arguments.overflow = overflow
            case "x-dead-letter-exchange":
                guard let text = value.stringValue else { throw invalid(key, "{unacceptable_type,not_a_string}") }
                // Exchange names and routing keys are short strings (255 bytes) on the wire.
                guard text.utf8.count <= AMQPLimits.maxShortStringBytes else { throw invalid(key, "{too_long}") }
                arguments.deadLetterExchange = text
            case "x-dead-letter-routing-key":
                guard let text = value.stringValue else { throw invalid(key, "{unacceptable_type,not_a_string}") }
                guard text.utf8.count <= AMQPLimits.maxShortStringBytes else { throw invalid(key, "{too_long}") }
                arguments.deadLetterRoutingKey = text
            case "x-single-active-consumer":
                guard case .boolean(let flag) = value else { throw invalid(key, "{unacceptable_type,not_a_bool}") }
                arguments.singleActiveConsumer = flag
            case "x-queue-type":
                guard value.stringValue == "classic" else {
                    throw BrokerRefusal(
                        .preconditionFailed,
                        "invalid arg 'x-queue-type' for queue '\(queue)' in vhost '/': only classic queues are "
                            + "supported by this server")
                }
            default:
                continue
            }
        }
        if arguments.deadLetterRoutingKey != nil && arguments.deadLetterExchange == nil {
            throw BrokerRefusal(
                .preconditionFailed,
                "invalid arg 'x-dead-letter-routing-key' for queue '\(queue)' in vhost '/': "
                    + "{routing_key_but_no_dlx_defined}")
        }
        return arguments
    }
}
