/// PocketBase's `fields` query parameter: which keys of a record an answer keeps, e.g.
/// `id,title,body:excerpt(200,true)`. Comma-separated paths (dots go into nested objects, and into each
/// object of an array); `*` keeps every key of its level that no other path names; a path may end with
/// the `excerpt(max, withEllipsis?)` modifier, which turns a string (HTML or text) into plain text of about
/// `max` bytes. A listing's paths apply to each of its items (docs/records.md, "Fields").
package struct RecordFieldPicker: Sendable, Equatable {
    /// What a path does with the value it reaches.
    package enum Modifier: Sendable, Equatable {
        case keep
        case excerpt(max: Int, ellipsis: Bool)
    }

    /// Each path, as written (dots and all), with its modifier.
    let paths: [String: Modifier]

    /// Longest `fields` accepted, in bytes.
    package static let maxBytes = 4_096

    /// Parses `raw`; a path with an unknown or malformed modifier is refused (400, in PocketBase's shape).
    package init(_ raw: String) throws(RecordError) {
        guard raw.utf8.count <= Self.maxBytes else {
            throw .badRequest("Invalid fields parameter: longer than \(Self.maxBytes) bytes.")
        }
        var paths: [String: Modifier] = [:]
        for entry in Self.split(raw) {
            let trimmed = entry.trimmingWhitespace()
            guard !trimmed.isEmpty else { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                paths[String(trimmed)] = .keep
                continue
            }
            let path = String(trimmed[..<colon]).trimmingWhitespace()
            paths[String(path)] = try Self.modifier(trimmed[trimmed.index(after: colon)...])
        }
        self.paths = paths
    }

    /// `value` with only the picked keys: a listing's `items` are picked one by one, anything else as a
    /// record (an object, or an array of objects).
    package func pick(_ value: JSONValue) -> JSONValue {
        Self.pick(value, paths)
    }

    // MARK: - Picking

    private static func pick(_ value: JSONValue, _ paths: [String: Modifier]) -> JSONValue {
        switch value {
        case .object(let fields): .object(pickObject(fields, paths))
        case .array(let elements) where elements.first.map({ if case .object = $0 { true } else { false } }) ?? false:
            .array(elements.map { pick($0, paths) })
        default: value
        }
    }

    /// The keys of one object that `paths` reach (`*` standing for every key no other path names).
    private static func pickObject(_ fields: [JSONField], _ paths: [String: Modifier]) -> [JSONField] {
        guard !paths.isEmpty else { return fields }
        var paths = paths
        if let everything = paths["*"] {
            for field in fields where !paths.keys.contains(where: { reaches($0, field.key) }) {
                paths[field.key] = everything
            }
        }
        var kept: [JSONField] = []
        for field in fields {
            var nested: [String: Modifier] = [:]
            var whole: Modifier?
            for (path, modifier) in paths where reaches(path, field.key) {
                if path.utf8.count == field.key.utf8.count {
                    whole = modifier
                } else {
                    nested[String(path.dropFirst(field.key.count + 1))] = modifier
                }
            }
            if let whole {
                kept.append(JSONField(key: field.key, value: apply(whole, to: field.value)))
            } else if !nested.isEmpty {
                kept.append(JSONField(key: field.key, value: pick(field.value, nested)))
            }
        }
        return kept
    }

    /// Whether `path` names `key` or something inside it (`key` itself, or `key.` followed by more).
    private static func reaches(_ path: String, _ key: String) -> Bool {
        guard path.hasPrefix(key) else { return false }
        let rest = path.utf8.dropFirst(key.utf8.count)
        return rest.isEmpty || rest.first == UInt8(ascii: ".")
    }

    private static func apply(_ modifier: Modifier, to value: JSONValue) -> JSONValue {
        switch modifier {
        case .keep: value
        case .excerpt(let max, let ellipsis):
            // Not a string (a number, a missing expand): kept as it is, as PocketBase does.
            if case .string(let text) = value { .string(excerpt(text, max: max, ellipsis: ellipsis)) } else { value }
        }
    }

    // MARK: - Parsing

    /// The entries of `raw`, split at the commas outside parentheses (`excerpt(200,true)` is one).
    private static func split(_ raw: String) -> [Substring] {
        var entries: [Substring] = []
        var depth = 0
        var start = raw.startIndex
        for index in raw.indices {
            switch raw[index] {
            case "(": depth += 1
            case ")": depth = max(0, depth - 1)
            case "," where depth == 0:
                entries.append(raw[start..<index])
                start = raw.index(after: index)
            default: break
            }
        }
        entries.append(raw[start...])
        return entries
    }

    /// `excerpt(max)` or `excerpt(max, withEllipsis)`.
    private static func modifier(_ text: Substring) throws(RecordError) -> Modifier {
        let text = text.trimmingWhitespace()
        guard let open = text.firstIndex(of: "("), text.last == ")" else {
            throw .badRequest("Invalid fields parameter: missing or invalid modifier \"\(text)\".")
        }
        let name = text[..<open].trimmingWhitespace()
        guard name == "excerpt" else {
            throw .badRequest("Invalid fields parameter: missing or invalid modifier \"\(name)\".")
        }
        let inside = text[text.index(after: open)..<text.index(before: text.endIndex)]
        let arguments = inside.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingWhitespace().trimming("\"'")
        }
        guard (1...2).contains(arguments.count), let max = Int(arguments[0]), max > 0 else {
            throw .badRequest("Invalid fields parameter: excerpt expects (max, withEllipsis?) with max > 0.")
        }
        let ellipsis = arguments.count == 2 && ["1", "t", "true", "TRUE", "True"].contains(arguments[1])
        return .excerpt(max: max, ellipsis: ellipsis)
    }

    // MARK: - Excerpt

    /// Elements whose content is not text a reader sees.
    private static let hiddenElements: Set<String> = [
        "head", "style", "script", "iframe", "embed", "applet", "object", "svg", "img", "picture", "dialog",
        "template", "button", "form", "textarea", "input", "select", "option",
    ]
    /// Elements without content or an end tag.
    private static let voidElements: Set<String> = [
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr",
    ]
    /// Elements that do not start a block (every other element is a word break).
    private static let inlineElements: Set<String> = [
        "a", "abbr", "acronym", "b", "bdo", "big", "br", "button", "cite", "code", "em", "i", "label", "q", "small",
        "span", "strong", "strike", "sub", "sup", "time",
    ]

    /// Plain text of about `max` bytes from `text`, which may be HTML: tags out (and the content of hidden
    /// ones such as `script`), entities read, blocks and runs of whitespace one space, cut at `max` bytes
    /// (never inside a character), with "..." after a cut when `ellipsis`.
    package static func excerpt(_ text: String, max: Int, ellipsis: Bool) -> String {
        var out = ""
        var pendingSpace = false
        var hiddenDepth = 0
        var hiddenName = ""
        var scalars = text.unicodeScalars[...]
        func space() { if !out.isEmpty { pendingSpace = true } }
        while let scalar = scalars.first, out.utf8.count <= max + 2 {
            if scalar == "<", let close = scalars.firstIndex(of: ">") {
                let tag = String(scalars[scalars.index(after: scalars.startIndex)..<close])
                scalars = scalars[scalars.index(after: close)...]
                let closing = tag.hasPrefix("/")
                let name = String(
                    tag.drop { $0 == "/" }.prefix { $0.isLetter || $0.isNumber }.lowercased())
                if hiddenDepth > 0 {
                    if name == hiddenName { hiddenDepth += closing ? -1 : (tag.hasSuffix("/") ? 0 : 1) }
                    continue
                }
                if !closing, hiddenElements.contains(name), !voidElements.contains(name), !tag.hasSuffix("/") {
                    hiddenDepth = 1
                    hiddenName = name
                    continue
                }
                if !name.isEmpty, !inlineElements.contains(name) || name == "br" { space() }
                continue
            }
            scalars = scalars.dropFirst()
            if hiddenDepth > 0 { continue }
            var character = Character(scalar)
            if scalar == "&", let semicolon = scalars.prefix(10).firstIndex(of: ";"),
                let decoded = entity(String(scalars[..<semicolon]))
            {
                character = decoded
                scalars = scalars[scalars.index(after: semicolon)...]
            }
            if character.isWhitespace {
                space()
                continue
            }
            if pendingSpace {
                out.append(" ")
                pendingSpace = false
            }
            out.append(character)
        }
        guard out.utf8.count > max else { return out }
        var cut = ""
        for character in out {
            guard cut.utf8.count + character.utf8.count <= max else { break }
            cut.append(character)
        }
        cut = String(cut.trimmingWhitespace())
        return ellipsis ? cut + "..." : cut
    }

    /// The character an entity's name (between `&` and `;`) stands for: the common named ones, and numeric.
    private static func entity(_ name: String) -> Character? {
        switch name {
        case "amp": return "&"
        case "lt": return "<"
        case "gt": return ">"
        case "quot": return "\""
        case "apos", "#39": return "'"
        case "nbsp": return " "
        default:
            let digits = name.dropFirst()
            guard name.hasPrefix("#"), !digits.isEmpty else { return nil }
            let value =
                digits.first == "x" || digits.first == "X" ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits)
            return value.flatMap(Unicode.Scalar.init).map(Character.init)
        }
    }
}

extension StringProtocol {
    fileprivate func trimmingWhitespace() -> SubSequence {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map { index(after: $0) } ?? start
        return self[start..<end]
    }

    fileprivate func trimming(_ set: String) -> String {
        let start = firstIndex { !set.contains($0) } ?? endIndex
        let end = lastIndex { !set.contains($0) }.map { index(after: $0) } ?? start
        return String(self[start..<end])
    }
}
