import BusCore
import Testing

/// `RecordFilterBinding`: a filter with one record's values put in decides exactly as the filter does on
/// that record, for every request, and needs no request when the record alone decides.
@Suite struct RecordFilterBindingTests {
    static let now = RecordFilterTests.now

    /// Filters mixing record fields, literals, macros and every kind of `@request.*` operand.
    static let filters = [
        "owner = @request.auth.id || public = true", "public = true || owner = @request.auth.id",
        "owner = @request.auth.id && public = true", "@request.auth.id != '' && owner = @request.auth.id",
        "title = 'Hello World'", "count > 4 && (done = false || @request.auth.role = 'admin')",
        "(count > 9 || @request.auth.id = 'u2') && (meta.level = 3 || @request.auth.verified = true)",
        "@request.auth.teams ?= 't2' || tags ?= 'z'", "meta.owner.id = @request.auth.id", "@request.auth.id ~ 'u'",
        "@request.method = 'PATCH' && count = 5", "@request.context = 'realtime'", "@request.headers.x_token = 'abc'",
        "@request.query.page = 2 || created > @todayStart", "@request.body.title:isset = true && owner != ''",
        "@request.body.title:changed = true", "@request.body.count:changed = false || 1 = 2",
        "@request.body.tags:length = 1 && tags:length = 2", "created < @now && @request.auth.id = null",
        "1 = 1 && (2 = 3 || @request.auth.missing = null)", "title ~ @request.auth.id", "owner = @request.body.owner",
    ]

    static let requests = [
        RecordRequestContext(now: now),
        RecordRequestContext(
            auth: RecordFilterTests.json(#"{"id":"u1","role":"admin","verified":true,"teams":["t1","t2"]}"#),
            method: "PATCH", context: "realtime", headers: ["x_token": "abc"], now: now),
        RecordRequestContext(
            auth: RecordFilterTests.json(#"{"id":"u2","role":"user","verified":false,"teams":[]}"#),
            query: ["page": "2"],
            body: RecordFilterTests.json(#"{"title":"New","count":5.0,"tags":["a"],"owner":"u1"}"#), now: now),
    ]

    static let records = [
        RecordFilterTests.record,
        RecordFilterTests.json(#"{"id":"r2","owner":"u2","public":false,"count":12,"title":"u2's","tags":["z"]}"#),
        RecordFilterTests.json(#"{"id":"r3","owner":"u3","public":true,"meta":{"level":3}}"#),
        RecordFilterTests.json("{}"),
    ]

    @Test func aBoundFilterDecidesAsTheFilterOnItsRecord() throws {
        for text in Self.filters {
            let filter = try RecordFilter(parsing: text)
            for record in Self.records {
                let binding = filter.bound(to: record, now: Self.now)
                for request in Self.requests {
                    let expected = filter.matches(record, request: request)
                    #expect(binding.matches(request) == expected, "\(text) on \(record) for \(request)")
                    if let decided = binding.decided { #expect(decided == expected, "\(text) decided on \(record)") }
                }
            }
        }
    }

    @Test func theRecordAloneDecidesWhatNoRequestCanChange() throws {
        let rule = try RecordFilter(parsing: "owner = @request.auth.id || public = true")
        let shown = RecordFilterTests.json(#"{"owner":"u0","public":true}"#)
        let owned = RecordFilterTests.json(#"{"owner":"u0","public":false}"#)
        #expect(rule.bound(to: shown, now: Self.now).decided == true)
        // A private record leaves the comparison with the viewer's id.
        #expect(rule.bound(to: owned, now: Self.now).decided == nil)
        let both = try RecordFilter(parsing: "owner = @request.auth.id && public = true")
        #expect(both.bound(to: owned, now: Self.now).decided == false)
        #expect(try RecordFilter(parsing: "1 = 2 || 3 = 3").bound(to: owned, now: Self.now).decided == true)
    }
}
