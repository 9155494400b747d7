import BusCore
import Foundation

/// A stream as the config file's `streams` and `/api/streams` write it (docs/operations.md, docs/api.md):
/// snake_case keys, ages in seconds. Every key is optional here, so one shape serves a creation (which
/// needs `name` and `filters`) and an update (which changes only the limits and filters it names).
struct StreamSpecification: Decodable {
    var name: String?
    var filters: [String]?
    var partitions: Int?
    var retention: String?
    var storage: String?
    var max_messages: Int?
    var max_bytes: Int?
    var max_age_seconds: Double?
    var max_message_size: Int?
    var max_messages_per_subject: Int?
    var discard: String?
    var duplicate_window_seconds: Double?
    /// Bytes of a `file` stream's newest records each partition keeps whole in memory: an integer ≥ 0,
    /// `"all"` (every record) or `"default"` (`limits.stream_memory_tail_bytes`).
    var memory_tail_bytes: MemoryTail?

    /// `memory_tail_bytes` as written: a number or one of two words.
    struct MemoryTail: Decodable {
        var value: StreamMemoryTail

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let bytes = try? container.decode(Int.self) {
                value = .bytes(bytes)
            } else if let word = try? container.decode(String.self), word == "all" || word == "default" {
                value = word == "all" ? .all : .default
            } else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "memory_tail_bytes is a number of bytes, \"all\" or \"default\"")
            }
        }
    }

    static func decode(_ data: Data) throws(ConfigurationError) -> StreamSpecification {
        do { return try JSONDecoder().decode(StreamSpecification.self, from: data) } catch {
            throw ConfigurationError("not a stream definition: \(error)")
        }
    }

    /// A new stream (`name` given here or by the path).
    func configuration(name given: String? = nil) throws(ConfigurationError) -> StreamConfiguration {
        guard let name = given ?? name else { throw ConfigurationError("a stream needs a \"name\"") }
        if let given, let name = self.name, name != given {
            throw ConfigurationError("the body names stream \"\(name)\", the path \"\(given)\"")
        }
        guard let filters, !filters.isEmpty else {
            throw ConfigurationError("stream \(name) needs \"filters\" (the bus filters it captures)")
        }
        var configuration = StreamConfiguration(
            name: name, filters: try Self.filters(filters), partitions: partitions ?? 1,
            limits: try limits(over: StreamLimits()))
        if let retention {
            guard let value = StreamRetention(rawValue: retention) else {
                throw ConfigurationError("retention must be one of limits, interest, workqueue")
            }
            configuration.retention = value
        }
        if let storage {
            guard let value = StreamStorage(rawValue: storage) else {
                throw ConfigurationError("storage must be file or memory")
            }
            configuration.storage = value
        }
        if let memory_tail_bytes { configuration.memoryTail = memory_tail_bytes.value }
        if let problem = configuration.problem { throw ConfigurationError("stream \(name): \(problem)") }
        return configuration
    }

    /// `limits` with what this names changed.
    func limits(over limits: StreamLimits) throws(ConfigurationError) -> StreamLimits {
        var limits = limits
        if let max_messages { limits.maxMessages = max_messages }
        if let max_bytes { limits.maxBytes = max_bytes }
        if let max_age_seconds {
            guard max_age_seconds >= 0 else { throw ConfigurationError("max_age_seconds must not be negative") }
            limits.maxAgeNanoseconds = max_age_seconds == 0 ? nil : UInt64(max_age_seconds * 1e9)
        }
        if let max_message_size { limits.maxMessageSize = max_message_size }
        if let max_messages_per_subject { limits.maxMessagesPerSubject = max_messages_per_subject }
        if let discard {
            guard let value = StreamDiscardPolicy(rawValue: discard) else {
                throw ConfigurationError("discard must be old, new or new_per_subject")
            }
            limits.discard = value
        }
        if let duplicate_window_seconds {
            guard duplicate_window_seconds >= 0 else {
                throw ConfigurationError("duplicate_window_seconds must not be negative")
            }
            limits.duplicateWindowNanoseconds = UInt64(duplicate_window_seconds * 1e9)
        }
        return limits
    }

    static func filters(_ texts: [String]) throws(ConfigurationError) -> [TopicFilter] {
        var filters: [TopicFilter] = []
        for text in texts {
            do { filters.append(try TopicFilter(text)) } catch {
                throw ConfigurationError("\"\(text)\" is not a valid filter: \(error)")
            }
        }
        return filters
    }
}
