import BusRuntime
import NIOConcurrencyHelpers
package import NIOCore
package import NIOHTTP1

/// Why another instance gave no answer to a request asked of it (`SessionForwarder.ask`).
package enum InstanceRequestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Redis holds no address for it (it never announced one, or it stopped more than `addressTTL` ago),
    /// or Redis could not be asked.
    case noAddress
    /// No whole answer within the time given.
    case timedOut(TimeAmount)
    /// The connection failed or closed before a whole answer.
    case failed(String)

    package var description: String {
        switch self {
        case .noAddress: "no address in Redis"
        case .timedOut(let timeout): "no answer within \(timeout.nanoseconds / 1_000_000) ms"
        case .failed(let reason): "unreachable: \(reason)"
        }
    }
}

extension SessionForwarder {
    /// Asks `instance` the request `head` (with `body`) over HTTP/1.1, marked forwarded so it answers for
    /// itself only, and returns its answer on `loop` — or fails with `InstanceRequestError` when it has no
    /// address, cannot be reached or does not answer within `timeout` (then the connection is closed).
    /// The caller's credentials travel with the head, so the other instance checks them as its own API
    /// does: the marker never stands in for them (docs/redis.md, "The admin API across instances").
    package func ask(
        _ instance: String, _ head: HTTPRequestHead, body: ByteBuffer = ByteBuffer(), timeout: TimeAmount,
        on loop: any EventLoop
    ) -> EventLoopFuture<HTTPResponse> {
        let result = loop.makePromise(of: HTTPResponse.self)
        // The first outcome wins: the answer, a failure, or the timer.
        let settled = NIOLockedValueBox(false)
        let settle: @Sendable (Result<HTTPResponse, any Error>) -> Void = { outcome in
            let first = settled.withLockedValue { settled in
                defer { settled = true }
                return !settled
            }
            if first { result.completeWith(outcome) }
        }
        let timer = loop.scheduleTask(in: timeout) { settle(.failure(InstanceRequestError.timedOut(timeout))) }
        // Closes the request's connection when the timer settled first (`HTTPForwardingClient.send`).
        let done = loop.makePromise(of: Void.self)
        result.futureResult.whenComplete { _ in
            timer.cancel()
            done.succeed()
        }
        let client = self.client
        var head = head
        head.headers.replaceOrAdd(name: Self.forwardedHeader, value: "1")
        let forwarded = head
        engine.readRecord(Self.addressKey(instance)).hop(to: loop).whenComplete { read in
            guard case .success(let value?) = read, let (host, port) = Self.parse(String(buffer: value)) else {
                return settle(.failure(InstanceRequestError.noAddress))
            }
            client.send(forwarded, body: body, host: host, port: port, on: loop, cancel: done.futureResult)
                .whenComplete { outcome in
                    settle(outcome.mapError { InstanceRequestError.failed("\($0)") as any Error })
                }
        }
        return result.futureResult
    }
}
