package import NIOHTTP1

/// Cross-origin access for browser pages on other origins (SSE, long polling, Engine.IO polling) (Fetch standard, "CORS protocol"): allowed
/// origins (`OriginPolicy`, config `allowed_origins`) get `Access-Control-Allow-Origin` on every answer
/// and an answer to preflight `OPTIONS` requests; others get 403.
package struct HTTPCORS: Sendable {
    package let origins: OriginPolicy

    package init(origins: OriginPolicy) { self.origins = origins }

    /// The refusal for a disallowed origin, or nil when the request may proceed.
    package func refusal(_ head: HTTPRequestHead) -> HTTPResponse? {
        guard !origins.permits(head) else { return nil }
        let origin = head.headers.first(name: "Origin") ?? ""
        return .error(.forbidden("origin \(origin) is not allowed"))
    }

    /// Adds the response headers for the request's origin (none without an `Origin`).
    package func decorate(_ headers: inout HTTPHeaders, for head: HTTPRequestHead) {
        guard let origin = head.headers.first(name: "Origin") else { return }
        // The origin is echoed rather than `*`, so credentialed requests (`withCredentials`) work too.
        headers.add(name: "Access-Control-Allow-Origin", value: origin)
        headers.add(name: "Access-Control-Allow-Credentials", value: "true")
        headers.add(name: "Access-Control-Expose-Headers", value: "ETag")
        headers.add(name: "Vary", value: "Origin")
    }

    /// The answer to a preflight request (`OPTIONS` with `Access-Control-Request-Method`).
    package func preflight(_ head: HTTPRequestHead, methods: String) -> HTTPResponse {
        if let refusal = refusal(head) { return refusal }
        var response = HTTPResponse(status: .noContent)
        decorate(&response.headers, for: head)
        response.headers.add(name: "Access-Control-Allow-Methods", value: methods)
        response.headers.add(
            name: "Access-Control-Allow-Headers",
            value: "Authorization, Content-Type, Last-Event-ID, If-None-Match, Cache-Control")
        response.headers.add(name: "Access-Control-Max-Age", value: "600")
        return response
    }
}
