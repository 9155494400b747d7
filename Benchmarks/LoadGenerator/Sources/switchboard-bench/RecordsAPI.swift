import Foundation

/// The REST side of the records scenarios (docs/records.md): a fresh collection per run and the body of
/// one create. Every record's first own field is `sent`, the benchmark payload marker and the creator's
/// send time (`"ts:<19 digits>:"`, monotonic ns), so a subscriber finds it in the change event
/// (`{"type":"message",…,"data":{"action":"create","record":{…system members…,"sent":…}}}`) with the
/// same scan as any other delivery.
struct RecordsAPI {
    /// The server's HTTP listener.
    let port: Int
    /// `Authorization` header value for every request (the API key), or nil.
    let authorization: String?

    init(options: BenchOptions, target: BenchTarget) {
        port = target.port
        authorization = options.apiKey.map { "Bearer \($0)" }
    }

    /// A collection name of its own per run (`<channel>_<8 hex digits>`), so runs against one server
    /// never share records or events.
    static func freshCollectionName(prefix: String) -> String {
        let safe = prefix.filter { $0.isLetter || $0.isNumber || $0 == "_" }
        return (safe.isEmpty ? "bench" : safe) + "_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }

    /// The topic filter that follows every record of `collection`.
    static func topic(_ collection: String) -> String { "collections/\(collection)/+" }

    /// Creates `name` with every rule `""` except `viewRule`.
    func createCollection(_ name: String, viewRule: String) throws {
        let connection = try HTTPConnection(host: "127.0.0.1", port: port)
        defer { connection.close() }
        let rule = viewRule.replacingOccurrences(of: "\"", with: "\\\"")
        let body =
            #"{"name":"\#(name)","listRule":"","viewRule":"\#(rule)","createRule":"","updateRule":"","deleteRule":""}"#
        let response = try connection.request(
            "POST", "/api/collections", contentType: "application/json", accept: "application/json",
            authorization: authorization, body: Array(body.utf8))
        guard response.status == 200 else {
            throw BenchError.setupFailed("create collection answered \(response.status): \(response.text.prefix(300))")
        }
    }

    /// `{"sent":"ts:…:","title":"xxx…"[,"public":…,"owner":"…"]}` with `size` bytes of title.
    static func createBody(sentAt: UInt64, title: String, visibility: (public: Bool, owner: String)?) -> [UInt8] {
        var stamp = BenchPayload.template(size: BenchPayload.minimumSize)
        stamp.withUnsafeMutableBytes {
            BenchPayload.patchDigits($0, at: BenchPayload.marker.count, value: sentAt)
        }
        var body = #"{"sent":""# + String(decoding: stamp, as: UTF8.self) + #"","title":""# + title + "\""
        if let visibility {
            body += #","public":\#(visibility.public),"owner":"\#(visibility.owner)""#
        }
        return Array((body + "}").utf8)
    }

    /// The path records of `collection` are created at.
    static func recordsPath(_ collection: String) -> String { "/api/collections/\(collection)/records" }
}
