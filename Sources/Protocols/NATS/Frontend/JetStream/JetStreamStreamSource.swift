package import BusCore

/// A stream's `mirror` or one of its `sources` (nats-server's `StreamSource`): the stream on this server
/// whose messages it copies, from `opt_start_seq` or `opt_start_time` on (else from the first), only
/// those `filter_subject` matches (else all). `external` (another account or domain) is refused: this
/// server has one account and no domains to reach.
package struct JetStreamStreamSource: Sendable, Equatable {
    package var name: String
    package var optStartSequence: UInt64?
    /// As the request spelt it (shown back as given), and its nanoseconds.
    package var optStartTimeText: String?
    package var optStartTime: UInt64?
    package var filterSubject: String?

    package init(
        name: String, optStartSequence: UInt64? = nil, optStartTime: UInt64? = nil, filterSubject: String? = nil
    ) {
        self.name = name
        self.optStartSequence = optStartSequence
        self.optStartTime = optStartTime
        self.optStartTimeText = optStartTime.map(JetStreamJSON.time)
        self.filterSubject = filterSubject
    }

    /// Reads `{"name", "opt_start_seq", "opt_start_time", "filter_subject", "external"}`.
    package init(json: [String: Any]) throws(JetStreamAPIError) {
        guard let name = JetStreamJSON.string(json, "name"), JetStreamStreamConfig.isValidName(name) else {
            throw .invalidStreamConfig("stream source name is required and can not contain '.', '*', '>'")
        }
        self.init(name: name)
        if let external = json["external"] as? [String: Any], !external.isEmpty {
            // No other account or domain exists here to source from.
            throw .invalidStreamConfig("stream sources and mirrors of other accounts or domains are not supported")
        }
        if let transforms = json["subject_transforms"] as? [Any], !transforms.isEmpty {
            // nats-server 2.10's; not built here: refused rather than copied untransformed.
            throw .invalidStreamConfig("stream source subject transforms are not supported by this server")
        }
        if let sequence = JetStreamJSON.int(json, "opt_start_seq"), sequence > 0 { optStartSequence = UInt64(sequence) }
        if let text = JetStreamJSON.string(json, "opt_start_time"), !text.isEmpty {
            guard let time = JetStreamJSON.parseTime(text) else {
                throw .invalidStreamConfig("stream source opt_start_time is not a valid time")
            }
            optStartTimeText = text
            optStartTime = time
        }
        if let subject = JetStreamJSON.string(json, "filter_subject"), !subject.isEmpty {
            guard filter(of: subject) != nil else {
                throw .invalidStreamConfig("stream source filter subject \(subject) is not a valid subject")
            }
            filterSubject = subject
        }
    }

    package var json: [String: Any] {
        var json: [String: Any] = ["name": name]
        if let optStartSequence { json["opt_start_seq"] = optStartSequence }
        if let optStartTimeText { json["opt_start_time"] = optStartTimeText }
        if let filterSubject { json["filter_subject"] = filterSubject }
        return json
    }

    /// The bus filter of `filter_subject` (nil: every record is copied).
    package var filter: TopicFilter? { filterSubject.flatMap(filter(of:)) }

    private func filter(of subject: String) -> TopicFilter? {
        guard let text = try? NATSSubjectMapping.filterText(forSubject: subject) else { return nil }
        return try? TopicFilter(text)
    }

    /// The `Nats-Stream-Source` header nats-server adds to a sourced message: `<origin> <origin sequence>`
    /// (its 2.9 form); a restarted source finds where it was from the newest such header of its origin.
    package static let header = "Nats-Stream-Source"

    /// The header's value for the origin's record at `sequence`.
    package func headerValue(sequence: UInt64) -> String { "\(name) \(sequence)" }

    /// The origin and sequence a `Nats-Stream-Source` value names (also the older `$JS.ACK.<s>.…` form).
    package static func origin(ofHeader value: String) -> (stream: String, sequence: UInt64)? {
        if value.hasPrefix("$JS.ACK.") {
            let tokens = value.split(separator: ".", omittingEmptySubsequences: false)
            guard tokens.count == 9, let sequence = UInt64(tokens[5]) else { return nil }
            return (String(tokens[2]), sequence)
        }
        let fields = value.split(separator: " ")
        guard fields.count == 2, let sequence = UInt64(fields[1]) else { return nil }
        return (String(fields[0]), sequence)
    }
}
