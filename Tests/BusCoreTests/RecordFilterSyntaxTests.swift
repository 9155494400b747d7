import BusCore
import Testing

/// fexpr's grammar as PocketBase runs it: precedence, groups, quotes, comments, errors and limits.
@Suite struct RecordFilterSyntaxTests {
    let record = RecordFilterTests.record
    let request = RecordRequestContext(now: RecordFilterTests.now)

    func matches(_ text: String) throws -> Bool {
        try RecordFilter(parsing: text).matches(record, request: request)
    }

    func error(_ text: String, limits: RecordFilterLimits = RecordFilterLimits()) -> RecordFilterError? {
        do {
            _ = try RecordFilter(parsing: text, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func andBindsTighterThanOr() throws {
        // PocketBase joins fexpr's flat list into SQL, where AND precedes OR.
        #expect(try matches("1 = 1 || 1 = 2 && 1 = 2"))  // 1=1 OR (1=2 AND 1=2)
        #expect(try !matches("(1 = 1 || 1 = 2) && 1 = 2"))
        #expect(try matches("1 = 2 && 1 = 2 || 1 = 1"))
        #expect(try !matches("1 = 2 && (1 = 2 || 1 = 1)"))
        #expect(
            try RecordFilter(parsing: "a = 1 || b = 2 && c = 3").expression
                == .any([condition("a", 1), .all([condition("b", 2), condition("c", 3)])]))
        #expect(try matches("((count = 5)) && (title ~ 'World' || (done = false && 1 = 2))"))
    }

    func condition(_ field: String, _ number: Double) -> RecordFilterExpression {
        .condition(
            RecordFilterCondition(
                left: .field(path: [field], modifier: nil), op: RecordFilterOperator(.equal), right: .number(number)))
    }

    @Test func quotesEscapesCommentsAndSpacing() throws {
        let cases: [(String, String)] = [
            (#"x = "a\"b""#, "a\"b"), (#"x = 'a\'b'"#, "a'b"), (#"x = "it's""#, "it's"),
            (#"x = 'say "hi"'"#, "say \"hi\""),
            (#"x = 'a\b'"#, "a\\b"), (#"x = 'a\%'"#, "a\\%"), ("x = 'ünï 😀'", "ünï 😀"), ("x = ''", ""),
        ]
        for (text, expected) in cases {
            let filter = try RecordFilter(parsing: text)
            guard case .condition(let condition) = filter.expression else {
                Issue.record("\(text)")
                continue
            }
            #expect(condition.right == .text(expected), "\(text)")
        }
        #expect(try matches("count=5&&title~'World'"))
        #expect(try matches("count = 5 // trailing comment"))
        #expect(try matches("// leading comment\ncount = 5\n\t&& done = TRUE"))
        #expect(try matches("count = -5 || count > -.5"))
        #expect(try RecordFilter(parsing: "_id = 1 && a_b.c_2 = 2").referencedFields == ["_id", "a_b.c_2"])
    }

    @Test func referencedFields() throws {
        let filter = try RecordFilter(
            parsing:
                "owner = @request.auth.id && (meta.level > 2 || tags:length = 0 || owner != '') && @request.body.title:changed = false"
        )
        #expect(filter.referencedFields == ["owner", "meta.level", "tags", "title"])
    }

    @Test func errorsNameTheOffset() {
        let cases: [(String, Int, String)] = [
            ("", 0, "empty filter expression"),
            ("   // only a comment", 20, "empty filter expression"),
            ("count = ", 8, "expected an operand (a field, text or number)"),
            ("count 5", 6, "expected an operator such as = or ~"),
            ("count == 5", 6, "unknown operator \"==\""),
            ("count = 5 count = 6", 10, "expected && or ||"),
            ("count = 5 & done = true", 10, "unknown join \"&\", expected && or ||"),
            ("count = 5 &&", 12, "expected an operand (a field, text or number)"),
            ("(count = 5", 10, "missing ) for the ( at 0"),
            ("count = 5)", 9, "unexpected )"),
            ("()", 0, "empty parentheses"),
            ("title = 'open", 8, "unterminated text"),
            ("count = 5.", 8, "invalid number \"5.\""),
            ("count = -", 8, "invalid number \"-\""),
            ("count = 5 / 2", 10, "a comment starts with //"),
            ("title. = 1", 0, "invalid identifier \"title.\""),
            ("a..b = 1", 0, "invalid identifier \"a..b\""),
            ("@ = 1", 0, "invalid identifier \"@\""),
            ("x = €", 4, "unexpected character"),
            ("geoDistance(1, 2, 3, 4) < 5", 0, "functions such as geoDistance() are not supported"),
            ("@collection.users.id = 1", 0, "@collection references are not supported"),
            ("@request.auth = 1", 0, "expected a field after @request.auth"),
            ("@request.method.x = 1", 0, "@request.method has no fields"),
            ("#tag = 1", 0, "unknown identifier \"#tag\""),
        ]
        for (text, offset, message) in cases {
            let thrown = error(text)
            #expect(thrown == RecordFilterError(message, at: offset), "\(text)")
        }
        #expect(error("@nowish = 1")?.message.hasPrefix("unknown macro \"@nowish\"") == true)
        #expect(error("count = ")?.description == "invalid filter at 8: expected an operand (a field, text or number)")
    }

    @Test func limitsFailFast() {
        let long = String(repeating: "a = 1 && ", count: 400) + "a = 1"
        #expect(error(long) == RecordFilterError("longer than 3500 bytes", at: 3_500))
        let conditions = Array(repeating: "a = 1", count: 201).joined(separator: "&&")
        #expect(error(conditions) == RecordFilterError("more than 200 conditions", at: 200 * 7))
        #expect(error(Array(repeating: "a = 1", count: 200).joined(separator: "&&")) == nil)
        let deep = String(repeating: "(", count: 33) + "a = 1" + String(repeating: ")", count: 33)
        #expect(error(deep) == RecordFilterError("nested deeper than 32 parentheses", at: 32))
        let deepest = String(repeating: "(", count: 32) + "a = 1" + String(repeating: ")", count: 32)
        #expect(error(deepest) == nil)
        // Far past every limit: refused at the length check, without scanning.
        let huge = String(repeating: "(", count: 1_000_000)
        #expect(
            error(huge, limits: RecordFilterLimits(maxFilterBytes: 2_000_000))?.message
                == "nested deeper than 32 parentheses")
        #expect(error(huge)?.offset == 3_500)
    }
}
