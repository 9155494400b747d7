import BusCore
import Testing

/// PocketBase's filter language (https://pocketbase.io/docs/api-rules-and-filters/), evaluated as its
/// SQLite rendering would be.
@Suite struct RecordFilterTests {
    /// 2026-12-05 06:07:08.123Z, a Saturday.
    static let now: Int64 = 1_796_450_828_123_000_000

    static let record = json(
        """
        {"id":"r1","title":"Hello World","count":5,"price":2.5,"done":true,"owner":"u1","empty":"",
         "nothing":null,"tags":["a","b"],"scores":[1,5,9],"none":[],"code":"50%_off","path":"a\\\\b",
         "meta":{"owner":{"id":"u1"},"level":3},"items":[{"name":"x"},{"name":"y"}],
         "created":"2026-12-01 10:00:00.000Z","other":"World"}
        """)

    static func json(_ text: String) -> JSONValue {
        Array(text.utf8).withUnsafeBytes { try! JSONParser.parse($0) }
    }

    func check(
        _ cases: [(String, Bool)],
        request: RecordRequestContext = RecordRequestContext(now: RecordFilterTests.now),
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        for (text, expected) in cases {
            let filter = try RecordFilter(parsing: text)
            #expect(
                filter.matches(Self.record, request: request) == expected, "\(text)", sourceLocation: sourceLocation)
        }
    }

    func error(_ text: String, limits: RecordFilterLimits = RecordFilterLimits()) -> RecordFilterError? {
        do {
            _ = try RecordFilter(parsing: text, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func comparisonOperators() throws {
        try check([
            ("title = 'Hello World'", true), ("title = 'hello world'", false), ("title != 'x'", true),
            ("count = 5", true), ("count = 5.0", true), ("count != 5", false), ("count > 4", true),
            ("count >= 5", true), ("count < 5", false), ("count <= 5", true), ("price > 2.25", true),
            ("price < -1", false), ("count = '5'", true), ("title > 'Hello'", true), ("title < 'Hello'", false),
            ("'Hello World' = title", true), ("5 = count", true), ("1 = 1", true), ("1 = 2", false),
            ("done = true", true), ("done = false", false), ("done != true", false), ("owner = meta.owner.id", true),
            ("created > '2026-11-30 00:00:00.000Z'", true), ("created < '2026-12-01'", false),
        ])
    }

    @Test func nullAndEmptyAreEqualAsInPocketBase() throws {
        try check([
            ("nothing = null", true), ("nothing = ''", true), ("empty = null", true), ("empty = ''", true),
            ("missing = null", true), ("missing = ''", true), ("missing != ''", false), ("title = null", false),
            ("title != null", true), ("null = ''", true), ("null != null", false),
            // NULL in an ordering comparison or LIKE is NULL: the row is left out both ways.
            ("missing > 0", false), ("missing < 0", false), ("missing ~ 'a'", false), ("missing !~ 'a'", false),
            ("missing.deeper = null", true), ("title.deeper = null", true),
        ])
    }

    @Test func likeIsContainsUnlessItHasAPercent() throws {
        try check([
            ("title ~ 'lo wo'", true), ("title ~ 'LO WO'", true), ("title !~ 'lo wo'", false), ("title !~ 'xyz'", true),
            ("title ~ 'Hello%'", true), ("title ~ '%World'", true), ("title ~ 'World%'", false),
            ("title ~ 'H_llo%'", true), ("title ~ 'H_llo'", false),  // without %, _ is literal
            ("code ~ '50%'", true), ("code ~ '0%_'", false), ("code ~ '%\\%\\_%'", true), ("code ~ '%x\\%'", false),
            ("title ~ ''", true), ("count ~ 5", true), ("price ~ '.5'", true),
            ("path ~ 'a\\b'", true),  // a lone backslash is escaped before wrapping
            ("title ~ other", true),  // another field: '%' || other || '%'
            ("title ~ null", false), ("title !~ null", false),
        ])
    }

    @Test func anyOfAndEveryOnArrays() throws {
        try check([
            ("tags ?= 'a'", true), ("tags = 'a'", false), ("tags ?= 'c'", false), ("tags ?!= 'a'", true),
            ("tags != 'c'", true), ("tags != 'a'", false), ("scores ?> 8", true), ("scores > 0", true),
            ("scores > 1", false), ("scores ?>= 9", true), ("scores ?< 2", true), ("scores ?<= 0", false),
            ("scores < 10", true), ("tags ?~ 'A'", true), ("tags ~ 'a'", false), ("tags ?!~ 'a'", true),
            ("tags !~ 'z'", true), ("items.name ?= 'y'", true), ("items.name = 'y'", false),
            ("items.0.name = 'x'", true),
            ("items.5.name = null", true), ("'a' ?= tags", true),
            // An empty array is one NULL, like PocketBase's LEFT JOIN over json_each.
            ("none = ''", true), ("none ?= null", true), ("none ?= 'a'", false),
            // Any-of on a single value is just the comparison.
            ("title ?= 'Hello World'", true),
        ])
    }

    @Test func modifiers() throws {
        let request = RecordRequestContext(
            query: ["page": "2"], body: Self.json(#"{"title":"New","count":5.0,"tags":["a"]}"#), now: Self.now)
        try check(
            [
                ("tags:length = 2", true), ("none:length = 0", true), ("missing:length = 0", true),
                ("tags:each = 'a'", false), ("tags:each ?= 'a'", true), ("title:lower = 'hello world'", true),
                ("@request.body.title:isset = true", true), ("@request.body.owner:isset = true", false),
                ("@request.query.page:isset = true", true), ("@request.query.page = 2", true),
                ("@request.body.title:changed = true", true), ("@request.body.count:changed = false", true),
                ("@request.body.owner:changed = false", true), ("@request.body.tags:length = 1", true),
                ("@request.body.title:lower = 'new'", true),
            ], request: request)
        #expect(error("title:isset = true")?.message == ":isset applies only to @request fields")
        #expect(error("@request.auth.id:changed = true")?.message == ":changed applies only to @request.body fields")
        #expect(error("title:upper = 'A'")?.message == "unknown modifier \":upper\"")
        #expect(error("a:lower.b = 1")?.message == "invalid identifier \"a:lower.b\"")
    }

    @Test func requestFields() throws {
        let anonymous = RecordRequestContext(now: Self.now)
        try check(
            [
                ("@request.auth.id = ''", true), ("@request.auth.id != ''", false), ("owner = @request.auth.id", false),
                ("@request.auth.id = null", true), ("@request.method = 'GET'", true),
            ], request: anonymous)
        let signedIn = RecordRequestContext(
            auth: Self.json(#"{"id":"u1","role":"admin","verified":true,"teams":["t1","t2"]}"#), method: "PATCH",
            context: "realtime", headers: ["x_token": "abc"], now: Self.now)
        try check(
            [
                ("@request.auth.id != '' && owner = @request.auth.id", true), ("@request.auth.role = 'admin'", true),
                ("@request.auth.verified = true", true), ("@request.auth.teams ?= 't2'", true),
                ("@request.auth.missing = null", true), ("@request.method = 'PATCH'", true),
                ("@request.context = 'realtime'", true), ("@request.headers.x_token = 'abc'", true),
                ("meta.owner.id = @request.auth.id", true), ("@request.auth.id ~ 'u'", true),
            ], request: signedIn)
    }

    @Test func macrosUseTheInjectedClock() throws {
        let cases: [(String, Bool)] = [
            ("@now = '2026-12-05 06:07:08.123Z'", true), ("@todayStart = '2026-12-05 00:00:00.000Z'", true),
            ("@todayEnd = '2026-12-05 23:59:59.999Z'", true), ("@yesterday = '2026-12-04 06:07:08.123Z'", true),
            ("@tomorrow = '2026-12-06 06:07:08.123Z'", true), ("@monthStart = '2026-12-01 00:00:00.000Z'", true),
            ("@monthEnd = '2026-12-31 23:59:59.999Z'", true), ("@yearStart = '2026-01-01 00:00:00.000Z'", true),
            ("@yearEnd = '2026-12-31 23:59:59.999Z'", true), ("@second = 8", true), ("@minute = 7", true),
            ("@hour = 6", true), ("@day = 5", true), ("@month = 12", true), ("@year = 2026", true),
            ("@weekday = 6", true), ("created < @now && created > @monthStart", true), ("@now ~ '2026-12'", true),
        ]
        try check(cases)
        let leapDay = RecordRequestContext(now: 1_709_251_199_999_000_000)
        try check([("@monthEnd = '2024-02-29 23:59:59.999Z'", true), ("@weekday = 4", true)], request: leapDay)
        let beforeEpoch = RecordRequestContext(now: -1_000_000)
        try check([("@now = '1969-12-31 23:59:59.999Z'", true), ("@weekday = 3", true)], request: beforeEpoch)
    }
}
