package import NIOCore
package import NIOHTTP1

/// Collects each request (bounded by `maxBodyBytes`), routes it, and writes the response. A response with
/// a `stream` (Server-Sent Events) keeps the connection: the stream writes the body until one side ends it.
///
/// Pipelined requests (RFC 9112 §9.3.2) are answered in order here: a request read in full while an
/// earlier one is being answered waits in `queued`, and while any waits the connection reads no more. NIO's
/// `HTTPServerPipelineHandler` did this in front of it, but it withheld reading while *any* answer was
/// pending, so a client sending one request at a time had its read interest dropped and re-added with every
/// request (two `epoll_ctl` calls each). A request that does not parse is answered 400 in its turn (as NIO's
/// `HTTPServerProtocolErrorHandler` did, which is not in the pipeline: it would answer ahead of the queue).
package final class HTTPServerHandler: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPServerRequestPart
    package typealias OutboundIn = HTTPServerResponsePart
    package typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        var isStreaming: Bool {
            if case .streaming = self { return true }
            return false
        }

        case idle
        case collecting(HTTPRequestHead, ByteBuffer)
        /// The body outgrew the limit: the rest is read and dropped, then 413 is sent.
        case discarding(HTTPRequestHead)
        /// A streamed response owns the connection until it closes.
        case streaming(any HTTPResponseStream, HTTPStreamWriter)
    }

    private let router: HTTPRouter
    private let maxBodyBytes: Int
    private let commonHeaders: HTTPHeaders
    /// Upgrades a WebSocket request that is not the connection's first (NIO's upgrade handler only
    /// looks at the first): clients with a connection pool, such as python-engineio's aiohttp session
    /// upgrading a polling session, send the upgrade on a connection that already served requests.
    private let upgrader: WebSocketUpgrader?
    private var state = State.idle
    private let timeouts: Timeouts
    /// Closes the connection when no request head arrives in time (armed while nothing is in flight).
    private var waiting: Scheduled<Void>?
    /// When `waiting` fires.
    private var waitingFires = NIODeadline.distantFuture
    /// When the connection closes if no request head arrives before (`distantFuture`: not waiting). A
    /// keep-alive connection moves it with every answer; the scheduled task is not replaced each time, but
    /// looks again when it fires (one timer per connection idle period, not a schedule and a cancel per
    /// request: they were a measurable part of a records create).
    private var waitingDeadline = NIODeadline.distantFuture
    /// Requests whose head arrived and whose response is not written yet (pipelining has several).
    private var inFlight = 0
    /// A request read in full, waiting for its turn.
    private enum Queued {
        case request(HTTPRequestHead, ByteBuffer)
        /// Its body outgrew the limit: answered 413, then the connection closes.
        case tooLarge(HTTPRequestHead)
        /// The bytes after the earlier requests did not parse: answered 400, then the connection closes.
        case malformed
    }
    /// Requests read while an earlier one is being answered, oldest first.
    private var queued = CircularBuffer<Queued>()
    /// A request is routed and its response not written yet.
    private var answering = false
    /// `answerQueued` is running (an answer written synchronously inside it must not start another pass).
    private var draining = false
    /// A `read` held back while requests wait; issued when the queue empties.
    private var readWithheld = false
    /// This connection as a publisher (publisher flow control), made at its first request.
    private var publishingConnection: HTTPPublishingConnection?

    /// How long a connection may go without a complete request head: from its opening (`request`), and
    /// between requests on a keep-alive connection (`keepAlive`).
    package struct Timeouts: Sendable {
        package var request: TimeAmount
        package var keepAlive: TimeAmount

        package init(request: TimeAmount = .seconds(10), keepAlive: TimeAmount = .seconds(75)) {
            self.request = request
            self.keepAlive = keepAlive
        }
    }

    package init(
        router: HTTPRouter, maxBodyBytes: Int, commonHeaders: HTTPHeaders = HTTPHeaders(),
        upgrader: WebSocketUpgrader? = nil, timeouts: Timeouts = Timeouts()
    ) {
        self.router = router
        self.maxBodyBytes = maxBodyBytes
        self.commonHeaders = commonHeaders
        self.upgrader = upgrader
        self.timeouts = timeouts
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { waitForRequest(timeouts.request, context: context) }
    }

    package func channelActive(context: ChannelHandlerContext) {
        waitForRequest(timeouts.request, context: context)
        context.fireChannelActive()
    }

    /// Arms the request-head deadline unless a request is in flight or the connection streams.
    private func waitForRequest(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        guard inFlight == 0, case .idle = state else { return }
        waitingDeadline = context.eventLoop.now + timeout
        // A timer that fires no later than the deadline looks again then: it stays.
        if waiting != nil, waitingFires <= waitingDeadline { return }
        schedule(at: waitingDeadline, context: context)
    }

    private func schedule(at deadline: NIODeadline, context: ChannelHandlerContext) {
        waiting?.cancel()
        waitingFires = deadline
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        waiting = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.waiting = nil
            guard handler.inFlight == 0, case .idle = handler.state,
                handler.waitingDeadline != .distantFuture
            else { return }
            // Answers since it was armed moved the deadline on: wait for the rest.
            if handler.waitingDeadline > context.eventLoop.now {
                return handler.schedule(at: handler.waitingDeadline, context: context)
            }
            context.close(promise: nil)
        }
    }

    /// A request head arrived: the deadline is off (the timer, if armed, finds nothing to do when it fires
    /// unless a later answer armed the deadline again).
    private func pauseWaiting() {
        waitingDeadline = .distantFuture
    }

    private func stopWaiting() {
        waiting?.cancel()
        waiting = nil
        waitingDeadline = .distantFuture
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A stream reads no more requests; once its request handlers are gone, raw bytes may arrive.
        if case .streaming = state { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            pauseWaiting()
            inFlight += 1
            state = .collecting(head, context.channel.allocator.buffer(capacity: 0))
        case .body(var chunk):
            switch state {
            case .collecting(let head, var body):
                if body.readableBytes + chunk.readableBytes > maxBodyBytes {
                    state = .discarding(head)
                } else {
                    state = .idle  // release the buffer's reference before writing to it
                    body.writeBuffer(&chunk)
                    state = .collecting(head, body)
                }
            case .discarding, .idle, .streaming:
                break
            }
        case .end:
            switch state {
            case .collecting(let head, let body):
                state = .idle
                queued.append(.request(head, body))
                answerQueued(context: context)
            case .discarding(let head):
                state = .idle
                queued.append(.tooLarge(head))
                answerQueued(context: context)
            case .idle, .streaming:
                break
            }
        }
    }

    /// Answers the queued requests in order, each once the one before it is written; a `read` held back
    /// while they waited goes out when none is left.
    private func answerQueued(context: ChannelHandlerContext) {
        guard !draining else { return }
        draining = true
        while !answering, let next = queued.popFirst() {
            answering = true
            answer(next, context: context)
        }
        draining = false
        if readWithheld, queued.isEmpty, context.channel.isActive {
            readWithheld = false
            context.read()
        }
    }

    private func answer(_ queued: Queued, context: ChannelHandlerContext) {
        switch queued {
        case .request(let head, let body):
            if upgradeLater(head, context: context) { return }
            var request = HTTPRequest(head: head, body: body, remoteAddress: context.channel.remoteAddress)
            request.closeFuture = context.channel.closeFuture
            request.clientCertificateName = context.channel.verifiedClientCommonName
            if publishingConnection == nil {
                publishingConnection = HTTPPublishingConnection(channel: context.channel)
            }
            request.publishingConnection = publishingConnection
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            router.respond(to: request, on: context.eventLoop).whenComplete { result in
                let (handler, context) = loopBound.value
                switch result {
                case .success(let response): handler.write(response, for: head, context: context)
                case .failure(let error):
                    handler.write(
                        .error(APIError(.internalServerError, "internal", "\(error)")), for: head, context: context)
                }
            }
        case .tooLarge(let head):
            write(
                .error(.tooLarge("request body is larger than \(maxBodyBytes) bytes")), for: head, context: context,
                close: true)
        case .malformed:
            // NIO's `HTTPServerProtocolErrorHandler`'s answer: a client that sent garbage is told so, and the
            // connection ends — nothing after it can be framed, and it must not hold a descriptor open.
            self.queued.removeAll()
            let headers = HTTPHeaders([("Connection", "close"), ("Content-Length", "0")])
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))),
                promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            context.close(promise: nil)
        }
    }

    /// Reads go on while one request is answered (a client sending one at a time keeps its read interest);
    /// they stop while a complete request waits behind it, so a pipelining client is held to what one read
    /// brought.
    package func read(context: ChannelHandlerContext) {
        if queued.isEmpty || state.isStreaming {
            context.read()
        } else {
            readWithheld = true
        }
    }

    /// Upgrades `head` to WebSocket when it asks for it on a connection whose first request was something
    /// else (NIO's `HTTPServerUpgradeHandler` is gone then); false when it is not such a request. A refused
    /// upgrade is routed as any request (the endpoint's refusal answers it).
    private func upgradeLater(_ head: HTTPRequestHead, context: ChannelHandlerContext) -> Bool {
        guard let upgrader,
            head.headers[canonicalForm: "Upgrade"].contains(where: { $0.lowercased() == "websocket" }),
            (try? context.pipeline.syncOperations.handler(type: HTTPServerUpgradeHandler.self)) == nil
        else { return false }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let initial = HTTPHeaders([("connection", "upgrade"), ("upgrade", "websocket")])
        upgrader.buildUpgradeResponse(channel: context.channel, upgradeRequest: head, initialResponseHeaders: initial)
            .whenComplete { result in
                let (handler, context) = loopBound.value
                switch result {
                case .success(let headers):
                    handler.completeUpgrade(head, headers: headers, context: context)
                case .failure:
                    var request = HTTPRequest(
                        head: head, body: ByteBuffer(), remoteAddress: context.channel.remoteAddress)
                    request.closeFuture = context.channel.closeFuture
                    handler.router.respond(to: request, on: context.eventLoop).whenComplete { result in
                        let (handler, context) = loopBound.value
                        let response = (try? result.get()) ?? .error(.badRequest("WebSocket upgrade refused"))
                        handler.write(response, for: head, context: context)
                    }
                }
            }
        return true
    }

    /// As NIO's upgrade handler: the 101 answer, the endpoint's handlers, then the HTTP handlers go (the
    /// request decoder last, handing any bytes after the request to the WebSocket decoder).
    private func completeUpgrade(_ head: HTTPRequestHead, headers: HTTPHeaders, context: ChannelHandlerContext) {
        guard let upgrader, context.channel.isActive else { return }
        let response = HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: headers)
        context.writeAndFlush(wrapOutboundOut(.head(response)), promise: nil)
        let pipeline = context.pipeline.syncOperations
        upgrader.upgrade(context: context, upgradeRequest: head).whenComplete { result in
            if case .failure = result { context.close(promise: nil) }
        }
        removeHTTPHandlers(pipeline, context: context)
        if let handler = try? pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) {
            pipeline.removeHandler(handler, promise: nil)
        }
    }

    /// Takes the HTTP handlers out of the pipeline, this one included, all but the request decoder: the
    /// caller removes it last, so that what it holds after the request goes on to whatever replaced them.
    private func removeHTTPHandlers(_ pipeline: ChannelPipeline.SynchronousOperations, context: ChannelHandlerContext) {
        Self.remove(
            [
                HTTPServerUpgradeHandler.self,
                NIOHTTPResponseHeadersValidator.self, HTTPResponseEncoder.self,
            ], from: pipeline)
        pipeline.removeHandler(context: context, promise: nil)
    }

    /// Removes the handler of each of `types` the pipeline holds.
    private static func remove(
        _ types: [any RemovableChannelHandler.Type], from pipeline: ChannelPipeline.SynchronousOperations
    ) {
        func remove<Handler: RemovableChannelHandler>(_ type: Handler.Type) {
            if let handler = try? pipeline.handler(type: type) { pipeline.removeHandler(handler, promise: nil) }
        }
        for type in types { remove(type) }
    }

    /// Joins the connection to another instance's (`HTTPTunnel`): the HTTP handlers go (the request
    /// decoder last, handing any bytes after the request to the glue), and from then on bytes are relayed
    /// both ways as they are. Both connections must be on this loop (the tunnel is opened on the loop the
    /// request was routed on); if not, or if joining fails, both close.
    private func splice(_ tunnel: HTTPTunnel, context: ChannelHandlerContext) {
        stopWaiting()
        guard tunnel.channel.eventLoop === context.eventLoop else {
            tunnel.channel.close(promise: nil)
            return context.close(promise: nil)
        }
        do {
            try tunnel.join(context)
        } catch {
            tunnel.channel.close(promise: nil)
            return context.close(promise: nil)
        }
        let pipeline = context.pipeline.syncOperations
        removeHTTPHandlers(pipeline, context: context)
        // The decoder leaves on a later tick, handing over what it held as a read without a read-complete:
        // sent on once it is gone.
        let channel = tunnel.channel
        let removed = context.eventLoop.makePromise(of: Void.self)
        removed.futureResult.whenComplete { _ in channel.flush() }
        if let handler = try? pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self) {
            pipeline.removeHandler(handler, promise: removed)
        } else {
            removed.succeed()
        }
    }

    /// A request that does not parse is answered 400 with `Connection: close` once the requests before it
    /// are answered; then the connection ends.
    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard error is HTTPParserError else { return context.fireErrorCaught(error) }
        if case .streaming = state { return context.close(promise: nil) }
        state = .idle
        queued.append(.malformed)
        answerQueued(context: context)
    }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .streaming(let stream, let writer) = state {
            writer.isWritable = context.channel.isWritable
            stream.streamWritabilityChanged(writer.isWritable)
        }
        context.fireChannelWritabilityChanged()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        stopWaiting()
        endStream()
        context.fireChannelInactive()
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        stopWaiting()
        endStream()
    }

    private func endStream() {
        guard case .streaming(let stream, let writer) = state else { return }
        state = .idle
        writer.detach()
        stream.streamEnded()
    }

    /// Writes a streamed response's head and hands the body to its stream. HTTP/1.1 bodies are chunked
    /// (RFC 9112 §7.1); HTTP/1.0 has no chunking, so the body runs until the connection closes (§6.3).
    private func startStream(
        _ stream: any HTTPResponseStream, _ response: HTTPResponse, for request: HTTPRequestHead,
        context: ChannelHandlerContext
    ) {
        var headers = commonHeaders
        headers.add(contentsOf: response.headers)
        let chunked = request.version.major > 1 || (request.version.major == 1 && request.version.minor >= 1)
        if chunked { headers.replaceOrAdd(name: "Transfer-Encoding", value: "chunked") }
        // A stream owns the connection and closes it when it ends (`HTTPStreamWriter.finish`): said up front
        // (RFC 9112 §9.6), so a client does not put the connection back in its pool and send its next
        // request into the close (httpx's ReadError after an MCP answer streamed as SSE).
        headers.replaceOrAdd(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: request.version, status: response.status, headers: headers)
        if request.method == .HEAD {
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        // The head is written but not flushed: the stream flushes it together with its opening, after it
        // has subscribed. A client that has seen the head can then rely on being subscribed (a publish it
        // makes next is delivered to it).
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        let writer = HTTPStreamWriter(context: context, chunked: chunked)
        state = .streaming(stream, writer)
        stream.streamStarted(writer)
        writer.flush()
        if writer.isOpen { shedRequestHandlers(context.pipeline.syncOperations) }
    }

    /// A stream never reads another request and writes its body past the pipeline, so NIO's HTTP/1
    /// request and response handlers are removed once the head is out: an idle stream then costs about
    /// what an upgraded WebSocket does (`sse-conns` in Benchmarks/compare measures it).
    private func shedRequestHandlers(_ pipeline: ChannelPipeline.SynchronousOperations) {
        Self.remove(
            [
                HTTPServerUpgradeHandler.self,
                ByteToMessageHandler<HTTPRequestDecoder>.self, HTTPResponseEncoder.self,
            ], from: pipeline)
    }

    private func write(
        _ response: HTTPResponse, for request: HTTPRequestHead, context: ChannelHandlerContext, close: Bool = false
    ) {
        // A stream acquires nothing before `streamStarted`, so one that never starts needs no ending.
        inFlight = max(0, inFlight - 1)
        answering = false
        guard context.channel.isActive else {
            queued.removeAll()
            response.tunnel?.channel.close(promise: nil)
            return
        }
        // A tunnel or a stream owns the connection from here: requests pipelined behind it go unanswered, as
        // the `Connection: close` of a stream tells the client.
        if let tunnel = response.tunnel {
            queued.removeAll()
            return splice(tunnel, context: context)
        }
        if let stream = response.stream {
            queued.removeAll()
            return startStream(stream, response, for: request, context: context)
        }
        // Built once at its final size (grown from the common headers' array it was copied and reallocated
        // up to three times), Content-Length added rather than replaced when the route set none.
        var headers = HTTPHeaders()
        headers.reserveCapacity(commonHeaders.count + response.headers.count + 2)
        headers.add(contentsOf: commonHeaders)
        headers.add(contentsOf: response.headers)
        let length = String(response.body.readableBytes)
        if response.headers.contains(name: "Content-Length") || commonHeaders.contains(name: "Content-Length") {
            headers.replaceOrAdd(name: "Content-Length", value: length)
        } else {
            headers.add(name: "Content-Length", value: length)
        }
        let keepAlive = request.isKeepAlive && !close
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: request.version, status: response.status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD && response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        if !keepAlive {
            queued.removeAll()
            let done = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        } else {
            // No promise: nothing waits for a keep-alive answer's write.
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            waitForRequest(timeouts.keepAlive, context: context)
            answerQueued(context: context)
        }
    }
}
