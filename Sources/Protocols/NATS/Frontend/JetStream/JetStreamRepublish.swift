import BusCore

/// A stream's `republish` (nats-server's `RePublish`): `src` (a subject filter, `>` by default) picks
/// the stored messages, `dest` names where each goes again — its `*` take the source's `*` tokens in
/// order (or `{{wildcard(n)}}` the n-th), its `>` the tokens the source's `>` matched — and
/// `headers_only` sends the headers and `Nats-Msg-Size` instead of the payload.
package struct JetStreamRepublish: Sendable, Equatable {
    package var source: String
    package var destination: String
    package var headersOnly: Bool

    package init(source: String, destination: String, headersOnly: Bool = false) {
        self.source = source
        self.destination = destination
        self.headersOnly = headersOnly
    }

    /// Reads `{"src", "dest", "headers_only"}`; refuses a destination that would be captured by the stream
    /// itself (a cycle) or that the source's wildcards cannot fill, with nats-server's 10052.
    package init(json: [String: Any], streamSubjects: [String]) throws(JetStreamAPIError) {
        let source = JetStreamJSON.string(json, "src").flatMap { $0.isEmpty ? nil : $0 } ?? ">"
        guard let destination = JetStreamJSON.string(json, "dest"), !destination.isEmpty else {
            throw .invalidStreamConfig("stream republish destination can not be empty")
        }
        self.init(
            source: source, destination: destination, headersOnly: JetStreamJSON.bool(json, "headers_only") ?? false)
        guard let sourceFilter = Self.filter(source) else {
            throw .invalidStreamConfig("stream republish source \(source) is not a valid subject")
        }
        guard let destinationFilter = Self.filter(destination) else {
            throw .invalidStreamConfig("stream republish destination \(destination) is not a valid subject")
        }
        let captured = streamSubjects.compactMap(Self.filter)
        guard captured.contains(where: { JetStreamStreamConfig.overlap($0, sourceFilter) }) else {
            throw .invalidStreamConfig("stream republish source is not a subset of the stream's subjects")
        }
        if captured.contains(where: { JetStreamStreamConfig.overlap($0, destinationFilter) }) {
            throw .invalidStreamConfig("stream republish destination forms a cycle")
        }
        let sourceTokens = source.split(separator: ".", omittingEmptySubsequences: false)
        let stars = sourceTokens.filter { $0 == "*" }.count
        var usedStars = 0
        for token in destination.split(separator: ".", omittingEmptySubsequences: false) {
            if token == ">" {
                guard sourceTokens.last == ">" else {
                    throw .invalidStreamConfig("stream republish destination uses '>' the source does not have")
                }
            } else if token == "*" {
                usedStars += 1
            } else if let index = Self.wildcardIndex(token), stars == 0 || !(1...stars).contains(index) {
                throw .invalidStreamConfig("stream republish destination names a wildcard the source does not have")
            }
        }
        guard usedStars <= stars else {
            throw .invalidStreamConfig("stream republish destination has more wildcards than the source")
        }
    }

    package var json: [String: Any] { ["src": source, "dest": destination, "headers_only": headersOnly] }

    /// The destination subject for a stored message's subject, or nil when the source does not match it.
    package func destination(for subject: String) -> String? {
        let pattern = source.split(separator: ".", omittingEmptySubsequences: false)
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        var stars: [Substring] = []
        var rest: [Substring] = []
        for (index, token) in pattern.enumerated() {
            if token == ">" {
                guard tokens.count > index else { return nil }
                rest = Array(tokens[index...])
                break
            }
            guard index < tokens.count else { return nil }
            if token == "*" {
                stars.append(tokens[index])
            } else if token != tokens[index] {
                return nil
            }
            if index == pattern.count - 1, tokens.count != pattern.count { return nil }
        }
        var out: [Substring] = []
        var next = 0
        for token in destination.split(separator: ".", omittingEmptySubsequences: false) {
            if token == ">" {
                out += rest
            } else if token == "*" {
                guard next < stars.count else { return nil }
                out.append(stars[next])
                next += 1
            } else if let index = Self.wildcardIndex(token) {
                guard index >= 1, index <= stars.count else { return nil }
                out.append(stars[index - 1])
            } else {
                out.append(token)
            }
        }
        return out.joined(separator: ".")
    }

    /// `{{wildcard(n)}}` → n.
    private static func wildcardIndex(_ token: Substring) -> Int? {
        let compact = token.filter { $0 != " " }
        guard compact.hasPrefix("{{wildcard("), compact.hasSuffix(")}}") else { return nil }
        return Int(compact.dropFirst("{{wildcard(".count).dropLast(")}}".count))
    }

    private static func filter(_ subject: String) -> TopicFilter? {
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false)
        // A `{{wildcard(n)}}` token is matched like `*` for the overlap checks.
        let plain = tokens.map { wildcardIndex($0) == nil ? String($0) : "*" }.joined(separator: ".")
        guard let text = try? NATSSubjectMapping.filterText(forSubject: plain) else { return nil }
        return try? TopicFilter(text)
    }
}
