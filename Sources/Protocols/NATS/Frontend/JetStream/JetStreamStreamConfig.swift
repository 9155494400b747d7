package import BusCore
import Foundation

/// A JetStream stream configuration (nats-server's `StreamConfig`) and how it maps onto the bus's
/// `StreamConfiguration`: `subjects` become the stream's filters (`a.>` ⇄ `a/#`), one partition, the
/// limits one for one (JetStream's -1 / 0 "unlimited" is nil), `file` storage is the store and
/// `memory` memory; `interest` and `workqueue` retention are the JetStream service's to apply
/// (`JetStreamService+Retention`). A `mirror` or `sources` stream copies other streams' messages
/// (`JetStreamService+Sources`). What the streams cannot do yet is refused with nats-server's error
/// rather than accepted and ignored: replicas > 1, sources of other accounts or domains.
package struct JetStreamStreamConfig: Sendable, Equatable {
    package var name: String
    package var description: String?
    package var subjects: [String]
    package var retention: String = "limits"
    package var storage: String = "file"
    package var maxMessages: Int = -1
    package var maxBytes: Int = -1
    /// Nanoseconds; 0 is no limit.
    package var maxAge: UInt64 = 0
    package var maxMessageSize: Int = -1
    package var maxMessagesPerSubject: Int = -1
    package var discard: String = "old"
    /// `sealed`: set by an update only (an object store's `seal`), never unset.
    package var sealed = false
    /// `discard_new_per_subject`: with `discard: new`, a subject at `max_msgs_per_subject` refuses too.
    package var discardNewPerSubject = false
    /// Nanoseconds; 0 in a request is nats-server's default, two minutes (never above `max_age`).
    package var duplicateWindow: UInt64 = Self.defaultDuplicateWindow
    package var replicas: Int = 1
    package var denyDelete = false
    package var denyPurge = false
    package var allowDirect = false
    /// `allow_rollup_hdrs`: a publish may carry `Nats-Rollup: sub|all` (KV's purge).
    package var allowRollup = false
    /// `allow_msg_ttl`: kept and shown; a `Nats-TTL` publish is still refused (not built here).
    package var allowMessageTTL = false
    /// `republish`: each stored message whose subject `source` matches is published again on
    /// `destination` (JetStreamService+Republish).
    package var republish: JetStreamRepublish?
    /// `consumer_limits.inactive_threshold` (ns): what a consumer that names none gets.
    package var consumerInactiveThreshold: UInt64?
    /// `consumer_limits.max_ack_pending`: a consumer's default and most.
    package var consumerMaxAckPending: Int?
    /// `mirror`: the stream this one mirrors, keeping its sequences (no subjects of its own).
    package var mirror: JetStreamStreamSource?
    /// `sources`: streams whose new messages this one copies (with `Nats-Stream-Source`).
    package var sources: [JetStreamStreamSource] = []
    /// `mirror_direct`: kept and shown (one server: the origin answers its own direct gets).
    package var mirrorDirect = false

    /// nats-server's `StreamDefaultDuplicatesWindow`.
    package static let defaultDuplicateWindow: UInt64 = 120_000_000_000

    package init(name: String, subjects: [String]) {
        self.name = name
        self.subjects = subjects
    }

    /// Reads a create/update request (`name` defaults to the one in the API subject); only an update may
    /// seal.
    package init(json: [String: Any], nameInSubject: String, update: Bool = false) throws(JetStreamAPIError) {
        let name = JetStreamJSON.string(json, "name") ?? nameInSubject
        guard name == nameInSubject else { throw .streamMismatch }
        self.init(name: name, subjects: JetStreamJSON.strings(json, "subjects") ?? [])
        guard Self.isValidName(name) else {
            throw .invalidStreamConfig("stream name is required and can not contain '.', '*', '>'")
        }
        // A mirror or source that is not an object is a request nats-server cannot read (its JSON decoding
        // fails: 10025); `null` is none.
        if let mirror = json["mirror"], !(mirror is NSNull), !(mirror is [String: Any]) {
            throw .invalidJSON("mirror is not an object")
        }
        if let sources = json["sources"], !(sources is NSNull),
            !((sources as? [Any])?.allSatisfy({ $0 is [String: Any] }) ?? false)
        {
            throw .invalidJSON("sources is not a list of objects")
        }
        if let mirror = json["mirror"] as? [String: Any] {
            // nats-server's order (checkStreamCfg): subjects, then sources, then the mirror itself.
            if !subjects.isEmpty { throw .mirrorWithSubjects }
            if !((json["sources"] as? [Any]) ?? []).isEmpty { throw .mirrorWithSources }
            let source = try JetStreamStreamSource(json: mirror)
            if source.optStartSequence != nil && source.optStartTime != nil { throw .mirrorWithStartSequenceAndTime }
            self.mirror = source
        }
        for case let source as [String: Any] in (json["sources"] as? [Any]) ?? [] {
            let parsed = try JetStreamStreamSource(json: source)
            guard !sources.contains(where: { $0.name == parsed.name }) else {
                throw .invalidStreamConfig("duplicate source configuration detected")
            }
            sources.append(parsed)
        }
        if sources.contains(where: { $0.name == name }) || mirror?.name == name {
            throw .invalidStreamConfig("detected cycle")
        }
        // nats-server: a stream without subjects captures its name, unless it is a mirror or has sources.
        if subjects.isEmpty && mirror == nil && sources.isEmpty { subjects = [name] }
        description = JetStreamJSON.string(json, "description")
        retention = JetStreamJSON.string(json, "retention") ?? "limits"
        storage = JetStreamJSON.string(json, "storage") ?? "file"
        discard = JetStreamJSON.string(json, "discard") ?? "old"
        discardNewPerSubject = JetStreamJSON.bool(json, "discard_new_per_subject") ?? false
        func limit(_ key: String) -> Int {
            let value = JetStreamJSON.int(json, key) ?? -1
            return value <= 0 ? -1 : value
        }
        maxMessages = limit("max_msgs")
        maxBytes = limit("max_bytes")
        maxMessageSize = limit("max_msg_size")
        maxMessagesPerSubject = limit("max_msgs_per_subject")
        maxAge = UInt64(max(0, JetStreamJSON.int(json, "max_age") ?? 0))
        let window = UInt64(max(0, JetStreamJSON.int(json, "duplicate_window") ?? 0))
        duplicateWindow = window > 0 ? window : Self.defaultDuplicateWindow
        if maxAge > 0 && duplicateWindow > maxAge { duplicateWindow = maxAge }
        replicas = max(1, JetStreamJSON.int(json, "num_replicas") ?? 1)
        denyDelete = JetStreamJSON.bool(json, "deny_delete") ?? false
        denyPurge = JetStreamJSON.bool(json, "deny_purge") ?? false
        allowDirect = JetStreamJSON.bool(json, "allow_direct") ?? false
        allowRollup = JetStreamJSON.bool(json, "allow_rollup_hdrs") ?? false
        allowMessageTTL = JetStreamJSON.bool(json, "allow_msg_ttl") ?? false
        guard ["limits", "interest", "workqueue"].contains(retention) else {
            throw .invalidStreamConfig("invalid retention policy \(retention)")
        }
        guard storage == "file" || storage == "memory" else {
            throw .invalidStreamConfig("invalid storage type \(storage)")
        }
        guard discard == "old" || discard == "new" else { throw .invalidStreamConfig("invalid discard policy") }
        if discardNewPerSubject {
            guard discard == "new" else {
                throw .invalidStreamConfig("discard new per subject requires discard new policy to be set")
            }
            guard maxMessagesPerSubject > 0 else {
                throw .invalidStreamConfig("discard new per subject requires max msgs per subject > 0")
            }
        }
        guard replicas == 1 else { throw .replicasNotSupported }
        if let transform = json["subject_transform"] as? [String: Any], !transform.isEmpty {
            // nats-server 2.10's; not built here: refused rather than stored untransformed.
            throw .invalidStreamConfig("subject transforms are not supported by this server")
        }
        // nats-server checks this before it looks at the mirror itself (JSStreamInvalidConfigF).
        if JetStreamJSON.bool(json, "mirror_direct") == true, mirror == nil {
            throw .invalidStreamConfig("stream has no mirror but does have mirror direct")
        }
        mirrorDirect = mirror != nil && JetStreamJSON.bool(json, "mirror_direct") == true
        if let limits = json["consumer_limits"] as? [String: Any] {
            if let threshold = JetStreamJSON.int(limits, "inactive_threshold"), threshold > 0 {
                consumerInactiveThreshold = UInt64(threshold)
            }
            if let pending = JetStreamJSON.int(limits, "max_ack_pending"), pending > 0 {
                consumerMaxAckPending = pending
            }
        }
        if let republish = json["republish"] as? [String: Any] {
            self.republish = try JetStreamRepublish(json: republish, streamSubjects: subjects)
        }
        if let markers = JetStreamJSON.int(json, "subject_delete_marker_ttl"), markers > 0 {
            throw .invalidStreamConfig("subject delete markers are not supported by this server")
        }
        sealed = JetStreamJSON.bool(json, "sealed") ?? false
        if sealed && !update {
            throw .invalidStreamConfig("stream configuration for create can not be sealed")
        }
        _ = try filters()
    }

    /// The stream's capture filters.
    package func filters() throws(JetStreamAPIError) -> [TopicFilter] {
        var filters: [TopicFilter] = []
        for subject in subjects {
            do {
                filters.append(try TopicFilter(NATSSubjectMapping.filterText(forSubject: subject)))
            } catch {
                throw .invalidStreamConfig("invalid subject \(subject)")
            }
        }
        return filters
    }

    /// The bus stream this configuration is.
    package func streamConfiguration() throws(JetStreamAPIError) -> StreamConfiguration {
        StreamConfiguration(
            name: name, filters: try filters(), partitions: 1,
            limits: StreamLimits(
                maxMessages: maxMessages > 0 ? maxMessages : nil, maxBytes: maxBytes > 0 ? maxBytes : nil,
                maxAgeNanoseconds: maxAge > 0 ? maxAge : nil, maxMessageSize: maxMessageSize > 0 ? maxMessageSize : nil,
                maxMessagesPerSubject: maxMessagesPerSubject > 0 ? maxMessagesPerSubject : nil,
                discard: discard == "old" ? .old : discardNewPerSubject ? .newPerSubject : .new,
                duplicateWindowNanoseconds: duplicateWindow, sealed: sealed,
                recordOverhead: Self.recordOverhead(storage == "memory" ? .memory : .file)),
            retention: StreamRetention(rawValue: retention) ?? .limits, storage: storage == "memory" ? .memory : .file)
    }

    /// What nats-server's store adds to each record's bytes (file 30, memory 16): a JetStream stream's
    /// `max_bytes` bounds records and this (`StreamLimits.recordOverhead`), and its `bytes` report them.
    static func recordOverhead(_ storage: StreamStorage) -> Int { storage == .memory ? 16 : 30 }

    /// How a bus stream looks to JetStream (a stream made by Kafka REST or the config file too).
    package init(_ configuration: StreamConfiguration) {
        self.init(name: configuration.name, subjects: configuration.filters.map { Self.subject(for: $0) })
        let limits = configuration.limits
        retention = configuration.retention.rawValue
        storage = configuration.storage.rawValue
        maxMessages = limits.maxMessages ?? -1
        maxBytes = limits.maxBytes ?? -1
        maxAge = limits.maxAgeNanoseconds ?? 0
        maxMessageSize = limits.maxMessageSize ?? -1
        maxMessagesPerSubject = limits.maxMessagesPerSubject ?? -1
        discard = limits.discard == .old ? "old" : "new"
        discardNewPerSubject = limits.discard == .newPerSubject
        sealed = limits.sealed
        duplicateWindow = limits.duplicateWindowNanoseconds
    }

    /// nats-server's `StreamConfig` JSON.
    package var json: [String: Any] {
        var json: [String: Any] = [
            "name": name, "retention": retention, "max_consumers": -1,
            "max_msgs": maxMessages, "max_bytes": maxBytes, "max_age": maxAge,
            "max_msgs_per_subject": maxMessagesPerSubject,
            "max_msg_size": maxMessageSize, "discard": discard, "storage": storage, "num_replicas": replicas,
            "duplicate_window": duplicateWindow, "sealed": sealed, "deny_delete": denyDelete, "deny_purge": denyPurge,
            "allow_rollup_hdrs": allowRollup, "allow_direct": allowDirect,
            "allow_msg_ttl": allowMessageTTL, "mirror_direct": mirrorDirect,
            "discard_new_per_subject": discardNewPerSubject,
        ]
        // nats-server omits what is empty: a mirror has no `subjects`, a plain stream no `mirror`/`sources`.
        if !subjects.isEmpty { json["subjects"] = subjects }
        if let mirror { json["mirror"] = mirror.json }
        if !sources.isEmpty { json["sources"] = sources.map(\.json) }
        if let description { json["description"] = description }
        if let republish { json["republish"] = republish.json }
        var consumerLimits: [String: Any] = [:]
        if let consumerInactiveThreshold { consumerLimits["inactive_threshold"] = consumerInactiveThreshold }
        if let consumerMaxAckPending { consumerLimits["max_ack_pending"] = consumerMaxAckPending }
        json["consumer_limits"] = consumerLimits
        return json
    }

    /// The bus stream where durable consumers are kept (`JetStreamService+Durability`): not a JetStream
    /// stream, never listed or addressed as one.
    package static let consumerStoreName = "_jetstream_consumers"

    /// A JetStream stream name: not empty, no '.', '*', '>' nor whitespace (nats-server's `isValidName`).
    package static func isValidName(_ name: String) -> Bool {
        name != consumerStoreName && !name.isEmpty && name.utf8.count <= StreamConfiguration.maxNameLength
            && !name.utf8.contains {
                $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: ">") || $0 <= 0x20
            }
    }

    /// The NATS subject of a bus filter (`a/+/#` → `a.*.>`).
    package static func subject(for filter: TopicFilter) -> String {
        filter.levels.map { level in
            switch level {
            case "+": return "*"
            case "#": return ">"
            // A literal level `*` or `>`: a filter spells it escaped, its bare token being a wildcard.
            case "*": return "%2A"
            case ">": return "%3E"
            default: return NATSSubjectMapping.subject(forTopic: String(level))
            }
        }.joined(separator: ".")
    }

    /// Whether two bus filters can match one topic (nats-server's subject overlap check).
    package static func overlap(_ first: TopicFilter, _ second: TopicFilter) -> Bool {
        let a = first.levels
        let b = second.levels
        var index = 0
        while index < a.count && index < b.count {
            if a[index] == "#" || b[index] == "#" { return true }
            if a[index] != "+" && b[index] != "+" && a[index] != b[index] { return false }
            index += 1
        }
        if a.count == b.count { return true }
        // One is longer: they meet only where the shorter's next level is `#` (handled above) or the
        // longer's remaining level is a lone `#` (which also matches nothing more).
        let longer = a.count > b.count ? a : b
        return index == longer.count - 1 && longer[index] == "#"
    }
}
