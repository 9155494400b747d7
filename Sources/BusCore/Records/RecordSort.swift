/// PocketBase's `sort` parameter: `-created,title,+id`, parsed once and used to order records.
///
/// `-` sorts descending, `+` or nothing ascending (`search.ParseSortFromString`). Values order as SQLite's
/// `ORDER BY` does: null (or a missing field) first, numbers before texts, texts by their bytes; records
/// equal on every key are ordered by `id` ascending, so pages are stable. `@random` is supported with an
/// injected random source; `@rowid` (SQLite's row number) is not, since records here have none.
package struct RecordSort: Sendable, Hashable {
    /// One sort key.
    package struct Field: Sendable, Hashable {
        /// A dotted path into the record, or `@random`.
        package var path: [String]
        package var descending: Bool
        package var isRandom: Bool { path == [RecordSort.randomKey] }
    }

    static let randomKey = "@random"

    package let fields: [Field]

    /// The record fields the sort reads, as dotted paths, so the API can refuse unknown ones with 400.
    package var referencedFields: [String] {
        fields.filter { !$0.isRandom }.map { $0.path.joined(separator: ".") }
    }

    /// Whether any key is `@random`; then order with `sorted(_:using:)`, which draws the random keys.
    package var isRandom: Bool { fields.contains(where: \.isRandom) }

    /// Parses `text`. An empty parameter sorts by `id` alone.
    package init(parsing text: String, limits: RecordFilterLimits = RecordFilterLimits()) throws(RecordFilterError) {
        var fields: [Field] = []
        var offset = 0
        guard !text.allSatisfy({ $0 == " " }) else {
            self.fields = []
            return
        }
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            defer { offset += part.utf8.count + 1 }
            guard fields.count < limits.maxSortFields else {
                throw RecordFilterError(.sort, "more than \(limits.maxSortFields) fields", at: offset)
            }
            let leading = part.prefix { $0 == " " || $0 == "\t" }.utf8.count
            var name = part.trimmingSpaces()
            let descending = name.hasPrefix("-")
            if descending || name.hasPrefix("+") { name.removeFirst() }
            let at = offset + leading
            guard name.utf8.count <= limits.maxSortFieldBytes else {
                throw RecordFilterError(.sort, "field longer than \(limits.maxSortFieldBytes) bytes", at: at)
            }
            if name == Self.randomKey {
                fields.append(Field(path: [name], descending: descending))
                continue
            }
            guard let path = Self.path(name) else {
                let shown = name.isEmpty ? "an empty field" : "\"\(name)\""
                throw RecordFilterError(.sort, "invalid sort field \(shown); expected a name such as -created", at: at)
            }
            fields.append(Field(path: path, descending: descending))
        }
        self.fields = fields
    }

    /// A plain identifier or dotted path: segments of ASCII letters, digits and `_`, the first not
    /// starting with a digit (later ones may be array indexes, `items.0`).
    private static func path(_ name: String) -> [String]? {
        let segments = name.split(separator: ".", omittingEmptySubsequences: false)
        func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
            scalar == "_" || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar)
                || ("0"..."9").contains(scalar)
        }
        guard let first = segments[0].unicodeScalars.first, !("0"..."9").contains(first),
            segments.allSatisfy({ !$0.isEmpty && $0.unicodeScalars.allSatisfy(isWordScalar) })
        else { return nil }
        return segments.map(String.init)
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        let isSpace = { (character: Character) in character == " " || character == "\t" }
        return String(self.drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
