/// Content negotiation as the proxy's v2 resources declare it (`@Consumes`/`@Produces`): produce takes
/// `application/vnd.kafka.<format>.v2+json`; the other bodies are `application/vnd.kafka.v2+json` (also
/// taken: `application/vnd.kafka+json` and `application/json`); answers are
/// `application/vnd.kafka.v2+json`, `application/vnd.kafka+json` or `application/json` by the client's
/// `Accept` (q-values honoured, the first at equal weight), and `GET records` answers in the
/// instance's embedded format.
package enum KafkaRESTMediaType {
    /// The generic v2 type, preferred when `Accept` allows several.
    package static let v2 = "application/vnd.kafka.v2+json"
    /// What the proxy answers with, in its order of preference (rest-utils' weights 1.0, 0.9, 0.5).
    package static let responseTypes = [v2, "application/vnd.kafka+json", "application/json"]

    /// The embedded format of a produce request's `Content-Type`; 415 for anything else.
    package static func produceFormat(contentType: String?) throws(KafkaRESTError) -> KafkaRESTEmbeddedFormat {
        guard let type = contentType.map(bare),
            let format = KafkaRESTEmbeddedFormat.allCases.first(where: { $0.mediaType == type })
        else { throw .unsupportedMediaType }
        return format
    }

    /// Checks the `Content-Type` of a request with a JSON body (consumers, subscriptions, offsets); a
    /// request without a body needs none.
    package static func checkJSONBody(contentType: String?, hasBody: Bool) throws(KafkaRESTError) {
        guard let contentType else {
            if hasBody { throw .unsupportedMediaType }
            return
        }
        guard responseTypes.contains(bare(contentType)) else { throw .unsupportedMediaType }
    }

    /// The answer's `Content-Type` for `Accept` (absent: the v2 type); 406 when none is acceptable.
    package static func negotiate(accept: String?) throws(KafkaRESTError) -> String {
        guard let accept, !accept.trimmingSpaces.isEmpty else { return v2 }
        let ranges = parseAccept(accept)
        var best: (type: String, quality: Double)?
        for type in responseTypes {
            let quality = ranges.filter { $0.matches(type) }.map(\.quality).max() ?? 0
            if quality > 0, quality > (best?.quality ?? 0) { best = (type, quality) }
        }
        guard let best else { throw .notAcceptable }
        return best.type
    }

    /// The embedded format `GET records` answers in: the instance's, unless `Accept` asks for a
    /// format-specific type of another format first (40601). Generic ranges (`*/*`, the v2 type) mean
    /// the instance's format.
    package static func recordsFormat(
        accept: String?, instanceFormat: KafkaRESTEmbeddedFormat
    ) throws(KafkaRESTError) -> KafkaRESTEmbeddedFormat {
        guard let accept else { return instanceFormat }
        let ranges = parseAccept(accept).filter { $0.quality > 0 }.sorted { $0.quality > $1.quality }
        for range in ranges {
            if let format = KafkaRESTEmbeddedFormat.allCases.first(where: { $0.mediaType == range.type }) {
                guard format == instanceFormat else { throw .consumerFormatMismatch }
                return format
            }
            if range.matches(instanceFormat.mediaType) || responseTypes.contains(range.type) {
                return instanceFormat
            }
        }
        throw .notAcceptable
    }

    /// One media range of an `Accept` header.
    package struct MediaRange: Sendable, Equatable {
        /// Lower-cased `type/subtype`, wildcards kept.
        package var type: String
        package var quality: Double

        /// Whether this range covers `mediaType` (`*/*`, `application/*`, or the type itself).
        package func matches(_ mediaType: String) -> Bool {
            if type == "*/*" || type == mediaType { return true }
            if type.hasSuffix("/*") { return mediaType.hasPrefix(type.dropLast()) }
            return false
        }
    }

    /// The media ranges of an `Accept` header (RFC 9110 §12.5.1), in order; a malformed `q` counts as 1.
    package static func parseAccept(_ header: String) -> [MediaRange] {
        header.split(separator: ",").compactMap { part in
            let pieces = part.split(separator: ";")
            guard let first = pieces.first else { return nil }
            let type = first.trimmingSpaces.lowercased()
            guard !type.isEmpty else { return nil }
            var quality = 1.0
            for parameter in pieces.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                if pair.count == 2, pair[0].trimmingSpaces.lowercased() == "q",
                    let value = Double(pair[1].trimmingSpaces)
                {
                    quality = min(max(value, 0), 1)
                }
            }
            return MediaRange(type: type, quality: quality)
        }
    }

    /// `type/subtype` of a `Content-Type`, lower-cased, parameters dropped.
    package static func bare(_ contentType: String) -> String {
        (contentType.split(separator: ";").first.map { $0.trimmingSpaces } ?? "").lowercased()
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (no Foundation in a Wire module).
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
