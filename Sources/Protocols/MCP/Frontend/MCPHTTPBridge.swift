import BusCore
import Foundation
import FrontendKit
import MCP
import NIOCore
import NIOHTTP1

/// Between FrontendKit's HTTP messages and the SDK's framework-agnostic ones.
enum MCPHTTPBridge {
    static func request(_ request: FrontendKit.HTTPRequest) -> MCP.HTTPRequest {
        var headers: [String: String] = [:]
        for (name, value) in request.head.headers {
            headers[name] = headers[name].map { $0 + ", " + value } ?? value
        }
        let body = request.body.readableBytes > 0 ? Data(request.body.readableBytesView) : nil
        return MCP.HTTPRequest(
            method: request.head.method.rawValue, headers: headers, body: body, path: request.path)
    }

    static func response(_ response: MCP.HTTPResponse) -> FrontendKit.HTTPResponse {
        var headers = HTTPHeaders()
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        let status = HTTPResponseStatus(statusCode: response.statusCode)
        if case .stream(let events, _) = response {
            return FrontendKit.HTTPResponse(status: status, headers: headers, stream: MCPEventStream(events))
        }
        var body = ByteBuffer()
        if let data = response.bodyData { body.writeBytes(data) }
        return FrontendKit.HTTPResponse(status: status, headers: headers, body: body)
    }

    /// A JSON-RPC error answer with no id, as the SDK's transport answers HTTP-level errors.
    static func error(_ status: HTTPResponseStatus, _ message: String) -> FrontendKit.HTTPResponse {
        .json(status) { buffer in
            buffer.writeStaticString("{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":")
            buffer.writeJSONString(message)
            buffer.writeStaticString("},\"id\":null}")
        }
    }
}

/// An SSE body the SDK produces as an async stream (a POST's answer, or the session's GET stream),
/// written to the connection as it comes; the body ends when the stream does, and the stream is
/// abandoned when the client goes.
final class MCPEventStream: HTTPResponseStream, @unchecked Sendable {
    private let events: AsyncThrowingStream<Data, any Error>
    /// Set and read on the connection's loop only.
    private var task: Task<Void, Never>?

    init(_ events: AsyncThrowingStream<Data, any Error>) { self.events = events }

    func streamStarted(_ writer: HTTPStreamWriter) {
        let loop = writer.eventLoop
        let bound = NIOLoopBound(writer, eventLoop: loop)
        let events = self.events
        task = Task {
            do {
                for try await chunk in events where !chunk.isEmpty {
                    loop.execute {
                        let writer = bound.value
                        guard writer.isOpen else { return }
                        writer.write(
                            HTTPStreamWriter.frame(chunked: writer.isChunked, capacity: chunk.count) {
                                $0.writeBytes(chunk)
                            })
                        writer.flush()
                    }
                }
            } catch {}
            loop.execute { bound.value.finish() }
        }
    }

    func streamEnded() {
        task?.cancel()
        task = nil
    }
}
