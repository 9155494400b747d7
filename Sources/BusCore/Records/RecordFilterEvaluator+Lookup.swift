extension RecordFilterEvaluator {
    /// The value at `path` inside `value`: object members by key, array elements by a numeric segment
    /// (`items.0`), and any other segment applied to every element of an array (`items.name`), as
    /// PocketBase expands multi-valued relations. `nil` when the path leads nowhere.
    static func lookup(_ value: JSONValue, _ path: ArraySlice<String>) -> JSONValue? {
        var current = value
        for (index, segment) in zip(path.indices, path) {
            switch current {
            case .object:
                guard let member = current[segment] else { return nil }
                current = member
            case .array(let elements):
                if let position = Int(segment) {
                    guard elements.indices.contains(position) else { return nil }
                    current = elements[position]
                    continue
                }
                let rest = path[(index + 1)...]
                var gathered: [JSONValue] = []
                for element in elements {
                    let found = lookup(element, [segment][...]).flatMap { lookup($0, rest) } ?? .null
                    if case .array(let nested) = found { gathered += nested } else { gathered.append(found) }
                }
                return .array(gathered)
            default:
                return nil
            }
        }
        return current
    }

    /// The scalars an operand compares: each element of an array, one null for a missing value or an
    /// empty array, with the modifier applied.
    static func scalars(_ value: JSONValue?, _ modifier: RecordFilterModifier?) -> [RecordFilterScalar] {
        if modifier == .length {
            let count: Int
            switch value {
            case .array(let elements)?: count = elements.count
            case nil, .null?: count = 0
            default: count = 1
            }
            return [.number(Double(count))]
        }
        var scalars: [RecordFilterScalar]
        switch value {
        case nil: scalars = [.null]
        case .array(let elements)?: scalars = elements.isEmpty ? [.null] : elements.map(RecordFilterScalar.init)
        case let single?: scalars = [RecordFilterScalar(single)]
        }
        if modifier == .lower {
            scalars = scalars.map { scalar in
                guard case .text(let text) = scalar else { return scalar }
                // SQLite's LOWER() folds ASCII only.
                let folded = text.unicodeScalars.map {
                    ("A"..."Z").contains($0) ? Character(Unicode.Scalar($0.value + 32)!) : Character($0)
                }
                return .text(String(folded))
            }
        }
        return scalars
    }

    /// Value equality for `:changed`, with numbers compared by value (`1.0` is `1`).
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number, .number): RecordFilterScalar(a) == RecordFilterScalar(b)
        case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        default: a == b
        }
    }
}
