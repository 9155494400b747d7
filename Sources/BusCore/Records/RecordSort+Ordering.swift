extension RecordSort {
    /// Whether `a` sorts before `b`. `@random` keys compare equal here; use `sorted(_:using:)` for them.
    package func areInIncreasingOrder(_ a: JSONValue, _ b: JSONValue) -> Bool {
        compare(a, b, randomKeys: nil) < 0
    }

    /// `records` in this order, drawing one random key per record for each `@random` field.
    package func sorted(_ records: [JSONValue], using random: inout some RandomNumberGenerator) -> [JSONValue] {
        let randomCount = fields.filter(\.isRandom).count
        let keyed = records.map { record in
            (record, (0..<randomCount).map { _ in random.next() as UInt64 })
        }
        return keyed.sorted { compare($0.0, $1.0, randomKeys: ($0.1, $1.1)) < 0 }.map(\.0)
    }

    private func compare(_ a: JSONValue, _ b: JSONValue, randomKeys: ([UInt64], [UInt64])?) -> Int {
        var randomIndex = 0
        for field in fields {
            var order: Int
            if field.isRandom {
                defer { randomIndex += 1 }
                guard let (left, right) = randomKeys else { continue }
                order = left[randomIndex] < right[randomIndex] ? -1 : (left[randomIndex] == right[randomIndex] ? 0 : 1)
            } else {
                order = Self.sortScalar(a, field.path).sortOrder(Self.sortScalar(b, field.path))
            }
            if field.descending { order = -order }
            if order != 0 { return order }
        }
        return Self.sortScalar(a, ["id"]).sortOrder(Self.sortScalar(b, ["id"]))
    }

    /// The one value a record sorts by: missing is null, an array or object its JSON text.
    private static func sortScalar(_ record: JSONValue, _ path: [String]) -> RecordFilterScalar {
        RecordFilterEvaluator.lookup(record, path[...]).map(RecordFilterScalar.init) ?? .null
    }
}
