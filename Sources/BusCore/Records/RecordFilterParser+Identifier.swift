extension RecordFilterParser {
    /// What an identifier names: a literal, a macro, a request value or a record field path, with its
    /// modifier checked against where PocketBase allows it (`core/record_field_resolver.go`).
    static func resolve(_ name: String, at offset: Int) throws(RecordFilterError) -> RecordFilterOperand {
        // PocketBase resolves these case-insensitively when no field has the name; records here may
        // not name a field `true`, `false` or `null`.
        switch name.lowercased() {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "null": return .null
        default: break
        }
        if name.hasPrefix("#") { throw RecordFilterError("unknown identifier \"\(name)\"", at: offset) }

        var segments = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var modifier: RecordFilterModifier?
        if let colon = segments[segments.count - 1].firstIndex(of: ":") {
            let last = segments[segments.count - 1]
            let suffix = String(last[last.index(after: colon)...])
            guard let known = RecordFilterModifier(rawValue: suffix) else {
                throw RecordFilterError("unknown modifier \":\(suffix)\"", at: offset)
            }
            modifier = known
            segments[segments.count - 1] = String(last[..<colon])
        }
        guard !segments.contains(where: { $0.isEmpty || $0.contains(":") }) else {
            throw RecordFilterError("invalid identifier \"\(name)\"", at: offset)
        }

        guard segments[0].hasPrefix("@") else {
            if let modifier, modifier == .isset || modifier == .changed {
                throw RecordFilterError(":\(modifier.rawValue) applies only to @request fields", at: offset)
            }
            return .field(path: segments, modifier: modifier)
        }
        if let macro = RecordFilterMacro(rawValue: name) { return .macro(macro) }
        if segments[0] == "@collection" {
            throw RecordFilterError("@collection references are not supported", at: offset)
        }
        guard segments[0] == "@request", segments.count >= 2, let source = RecordRequestSource(rawValue: segments[1])
        else {
            let known = RecordFilterMacro.allCases.map(\.rawValue).joined(separator: ", ")
            throw RecordFilterError("unknown macro \"\(name)\"; known: @request.*, \(known)", at: offset)
        }
        let path = Array(segments.dropFirst(2))
        switch source {
        case .method, .context:
            guard path.isEmpty else { throw RecordFilterError("@request.\(source) has no fields", at: offset) }
        case .auth, .body, .query, .headers:
            guard !path.isEmpty else {
                throw RecordFilterError("expected a field after @request.\(source)", at: offset)
            }
        }
        if modifier == .changed && source != .body {
            throw RecordFilterError(":changed applies only to @request.body fields", at: offset)
        }
        return .request(source, path: path, modifier: modifier)
    }
}
