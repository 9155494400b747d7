/// SQLite's `LIKE … ESCAPE '\'` as PocketBase uses it for `~` and `!~`.
///
/// `%` matches any run of characters, `_` any one character, `\` makes the next character literal, and
/// ASCII letters match either case. A texted operand without an unescaped `%` is a "contains" search:
/// PocketBase escapes its `\`, `%` and `_` and wraps it in `%…%` (`search.wrapLikeParams`).
package struct RecordFilterLikePattern: Sendable, Hashable {
    private var pattern: [Unicode.Scalar]

    /// The pattern for a parameter (a literal, a macro or a request value).
    package init(parameter text: String) {
        if Self.containsUnescapedPercent(text) {
            pattern = Array(text.unicodeScalars)
        } else {
            pattern = ["%"] + Self.escapeUnescaped(Array(text.unicodeScalars)) + ["%"]
        }
    }

    /// The pattern for another record field: `'%' || field || '%'`, where the field's own `%` and `_` are
    /// wildcards.
    package init(column text: String) {
        pattern = ["%"] + Array(text.unicodeScalars) + ["%"]
    }

    private static func containsUnescapedPercent(_ text: String) -> Bool {
        var previous: Unicode.Scalar?
        for scalar in text.unicodeScalars {
            if scalar == "%" && previous != "\\" { return true }
            // A `\\` pair escapes itself and nothing after it.
            previous = (scalar == "\\" && previous == "\\") ? nil : scalar
        }
        return false
    }

    /// Puts a `\` before each `\`, `%` and `_` not already preceded by one (scanning from the end, as
    /// PocketBase's `escapeUnescapedChars` does, so `\_` stays one escaped `_`).
    private static func escapeUnescaped(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var reversed: [Unicode.Scalar] = []
        reversed.reserveCapacity(scalars.count + 2)
        var pending = false
        for index in scalars.indices.reversed() {
            let scalar = scalars[index]
            if pending {
                if scalar != "\\" { reversed.append("\\") }
                pending = false
            } else {
                pending = scalar == "\\" || scalar == "%" || scalar == "_"
            }
            reversed.append(scalar)
            if index == 0 && pending { reversed.append("\\") }
        }
        return reversed.reversed()
    }

    /// Whether `text` matches. Iterative with one backtrack point (the last `%`), so it is linear in
    /// practice and never recurses.
    package func matches(_ text: String) -> Bool {
        let subject = Array(text.unicodeScalars)
        var p = 0
        var s = 0
        var backtrack: (pattern: Int, subject: Int)?
        while s < subject.count || p < pattern.count {
            if p < pattern.count {
                switch pattern[p] {
                case "%":
                    backtrack = (p, s)
                    p += 1
                    continue
                case "_" where s < subject.count:
                    p += 1
                    s += 1
                    continue
                case "\\":
                    // A trailing escape matches nothing, as in SQLite.
                    if p + 1 < pattern.count, s < subject.count, Self.same(pattern[p + 1], subject[s]) {
                        p += 2
                        s += 1
                        continue
                    }
                case let literal where s < subject.count && literal != "_" && Self.same(literal, subject[s]):
                    p += 1
                    s += 1
                    continue
                default:
                    break
                }
            }
            guard let point = backtrack, point.subject < subject.count else { return false }
            backtrack = (point.pattern, point.subject + 1)
            p = point.pattern + 1
            s = point.subject + 1
        }
        return true
    }

    private static func same(_ a: Unicode.Scalar, _ b: Unicode.Scalar) -> Bool {
        func lower(_ scalar: Unicode.Scalar) -> UInt32 {
            (65...90).contains(scalar.value) ? scalar.value + 32 : scalar.value
        }
        return lower(a) == lower(b)
    }
}
