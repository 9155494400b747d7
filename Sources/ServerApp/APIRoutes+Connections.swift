import BusCore
import BusRuntime
import FrontendKit
import NIOCore
import NIOHTTP1

/// `/api/connections` and `/api/channels` (docs/api.md). With an engine they answer for every instance
/// (docs/redis.md, "The admin API across instances"): the instance asked asks each other live instance
/// for its own part (`APIClusterPeers`) and merges the answers; a request another instance forwarded
/// (`SessionForwarder.forwardedHeader`) is answered for this instance only. Either way the request went
/// through the API's credential check first (`guarded`).
extension APIRoutes {
    func registerConnections(into router: inout HTTPRouter.Builder) {
        router.add(.GET, "/api/channels", guarded(channels))
        router.add(.GET, "/api/connections", guarded(listConnections))
        router.add(.DELETE, "/api/connections/:id", guarded(closeConnection))
    }

    /// Whether `request` wants this instance's part only: there is no engine, or another instance asked.
    private func answersLocally(_ request: HTTPRequest) -> Bool {
        cluster == nil || !request.head.headers[SessionForwarder.forwardedHeader].isEmpty
    }

    /// The same request asked of every other live instance, each answer or why there is none.
    private func askPeers(_ request: HTTPRequest, on loop: any EventLoop) -> EventLoopFuture<[InstanceAnswer]> {
        guard let cluster else { return loop.makeSucceededFuture([]) }
        let asked = cluster.peers().map { instance in
            cluster.forwarder.ask(instance, request.head, body: request.body, timeout: cluster.timeout, on: loop)
                .map { InstanceAnswer(instance: instance, outcome: .success($0)) }
                .recover { InstanceAnswer(instance: instance, outcome: .failure($0)) }
        }
        return EventLoopFuture.whenAllSucceed(asked, on: loop)
    }

    /// This instance's own part of a merged answer (asked with the forwarded marker): `{"instance":"…",`,
    /// then `members` writes the rest of the object.
    private func ownPart(_ instance: String, _ members: (inout ByteBuffer) -> Void) -> HTTPResponse {
        .json { buffer in
            buffer.writeStaticString("{\"instance\":")
            buffer.writeJSONString(instance)
            buffer.writeInteger(UInt8(ascii: ","))
            members(&buffer)
        }
    }

    // MARK: - Channels

    private func channels(_ request: HTTPRequest, _ loop: any EventLoop) throws -> EventLoopFuture<HTTPResponse> {
        let counts = bus.registry.channelCounts().filter { !$0.key.hasPrefix("$rpc/") }.sorted { $0.key < $1.key }
        guard let cluster else {
            return loop.makeSucceededFuture(.json { APIClusterMerge.writeChannels(&$0, counts) })
        }
        if answersLocally(request) {
            return loop.makeSucceededFuture(
                ownPart(cluster.instanceID) { APIClusterMerge.writeChannels(&$0, counts, open: false) })
        }
        return askPeers(request, on: loop).map { answers in
            APIClusterMerge.channels(local: (cluster.instanceID, counts), answers: answers)
        }
    }

    // MARK: - Connections

    private func listConnections(_ request: HTTPRequest, _ loop: any EventLoop) throws
        -> EventLoopFuture<HTTPResponse>
    {
        let list = connections.list()
        guard let cluster else {
            return loop.makeSucceededFuture(.json { APIClusterMerge.writeConnections(&$0, list, instance: nil) })
        }
        if answersLocally(request) {
            return loop.makeSucceededFuture(
                ownPart(cluster.instanceID) {
                    APIClusterMerge.writeConnections(&$0, list, instance: cluster.instanceID, open: false)
                })
        }
        return askPeers(request, on: loop).map { answers in
            APIClusterMerge.connections(local: (cluster.instanceID, list), answers: answers)
        }
    }

    /// Closes the connection here, or, with an engine, on whichever instance holds it; 404 only when every
    /// instance answered that it holds none.
    private func closeConnection(_ request: HTTPRequest, _ loop: any EventLoop) throws
        -> EventLoopFuture<HTTPResponse>
    {
        let id = request.parameters["id"] ?? ""
        if connections.close(id, reason: .administrative) {
            return loop.makeSucceededFuture(HTTPResponse(status: .noContent))
        }
        if answersLocally(request) { throw APIError.notFound("no connection \(id)") }
        return askPeers(request, on: loop).map { APIClusterMerge.closed(id, answers: $0) }
    }
}
