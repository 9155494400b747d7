/// A request the SSE and long-polling endpoints refuse; the handler answers HTTP 400 with the API's
/// JSON error body (docs/protocols/sse.md §6).
package struct SSERequestError: Error, Equatable, CustomStringConvertible {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { message }
}
