import BusCore
import BusRuntime
import Foundation
import FrontendKit
import NIOCore
import NIOHTTP1

/// Record collections over HTTP, shaped like PocketBase's API (issue 20, docs/records.md): collections
/// are managed by admins; records are listed, viewed, created, updated and deleted by anyone the
/// collection's rules let, with PocketBase's answers and error shape `{"status","message","data"}`.
extension APIRoutes {
    func registerRecords(into router: inout HTTPRouter.Builder) {
        router.add(.GET, "/api/collections", recordRoute(adminOnly: true) { _, _, _ in self.listCollections() })
        router.add(.POST, "/api/collections", recordRoute(adminOnly: true, createCollection))
        router.add(
            .GET, "/api/collections/:collection",
            recordRoute(adminOnly: true) { request, _, _ in
                try self.viewCollection(request)
            })
        router.add(.PATCH, "/api/collections/:collection", recordRoute(adminOnly: true, updateCollection))
        router.add(.DELETE, "/api/collections/:collection", recordRoute(adminOnly: true, deleteCollection))
        router.add(.GET, "/api/collections/:collection/records", recordRoute(adminOnly: false, listRecords))
        router.add(.POST, "/api/collections/:collection/records", recordRoute(adminOnly: false, createRecord))
        router.add(.GET, "/api/collections/:collection/records/:id", recordRoute(adminOnly: false, viewRecord))
        router.add(.PATCH, "/api/collections/:collection/records/:id", recordRoute(adminOnly: false, updateRecord))
        router.add(.DELETE, "/api/collections/:collection/records/:id", recordRoute(adminOnly: false, deleteRecord))
        router.add(.POST, "/api/batch", recordRoute(adminOnly: false, batchRecords))
    }

    typealias RecordHandler = @Sendable (HTTPRequest, RecordCaller, any EventLoop) throws -> RecordAnswer

    /// An answer now, or once the store has the change.
    enum RecordAnswer {
        case now(HTTPResponse)
        case later(EventLoopFuture<HTTPResponse>)
    }

    /// Runs `handler` for the request's caller (credentials checked off the loop first when they need
    /// it); `RecordError`s and refused credentials become PocketBase's errors.
    private func recordRoute(adminOnly: Bool, _ handler: @escaping RecordHandler) -> HTTPRouter.Handler {
        { request, loop in
            let run = { () -> EventLoopFuture<HTTPResponse> in
                do {
                    let caller = try adminOnly ? self.admin(request) : self.caller(request)
                    switch try handler(request, caller, loop) {
                    case .now(let response): return loop.makeSucceededFuture(response)
                    case .later(let future): return future
                    }
                } catch let error as RecordError {
                    return loop.makeSucceededFuture(RecordJSON.error(error))
                } catch {
                    return loop.makeSucceededFuture(RecordJSON.error(.badRequest("\(error)")))
                }
            }
            let credentials = request.head.headers.clientCredentials(query: nil)
            guard authenticator.isSecured, let preparing = authenticator.prepare(credentials, on: loop) else {
                return run()
            }
            return preparing.flatMap { run() }
        }
    }

    /// Collections are managed as the rest of `/api`: with the API key or an admin user when the server
    /// is secured, by anyone when it is not.
    private func admin(_ request: HTTPRequest) throws -> RecordCaller {
        do {
            try checkKey(request)
        } catch let error as APIError {
            // A user the authenticator knows who is not an admin: 403, as PocketBase answers its users.
            let credentials = request.head.headers.clientCredentials(query: nil)
            if error.status == .forbidden
                || (!credentials.isEmpty && authenticator.authenticate(credentials).identity != nil)
            {
                throw RecordError.onlyAdmins
            }
            throw RecordError.unauthorized
        }
        return RecordCaller(
            isAdmin: true, auth: RecordViewer.guest.auth, query: request.query.compactMapValues(\.first),
            changedBy: "api")
    }

    /// Who asks for records: an admin (the API key, or an admin user), a user, or a guest
    /// (`@request.auth.id = ""`) — the rules apply to everyone but admins, as they do to the change events
    /// on every protocol. On a server with no credentials configured at all, nobody is told apart: its
    /// anonymous callers pass every rule (`ClientIdentity.seesEveryRecord`).
    private func caller(_ request: HTTPRequest) throws -> RecordCaller {
        let query = request.query.compactMapValues(\.first)
        let headers = request.head.headers
        if let apiKey, headers.first(name: "X-API-Key") == apiKey || headers.bearerToken == apiKey {
            return RecordCaller(isAdmin: true, auth: RecordViewer.guest.auth, query: query, changedBy: "api")
        }
        let credentials = headers.clientCredentials(query: nil)
        switch authenticator.authenticate(credentials) {
        case .accepted(let identity):
            return RecordCaller(
                isAdmin: identity.isAdmin || identity.seesEveryRecord, auth: identity.recordAuth, query: query,
                changedBy: identity.userID ?? "api")
        case .refused:
            // No credentials where anonymous access is off: a guest, whom only rules of "" admit.
            guard credentials.isEmpty else { throw RecordError.unauthorized }
            return RecordCaller(isAdmin: false, auth: RecordViewer.guest.auth, query: query, changedBy: "api")
        }
    }

    private func parsedBody(_ request: HTTPRequest) throws -> JSONValue {
        guard request.body.readableBytes > 0 else { return .object([]) }
        do {
            let value = try request.body.withUnsafeReadableBytes { try JSONParser.parse($0) }
            guard case .object = value else { throw RecordError.badRequest("Failed to read the submitted data.") }
            return value
        } catch let error as RecordError {
            throw error
        } catch {
            throw RecordError.badRequest("Failed to read the submitted data: \(error).")
        }
    }

    private func collectionName(_ request: HTTPRequest) -> String { request.parameters["collection"] ?? "" }

    /// PocketBase's `?fields=…`: the keys an answer keeps (nil without one).
    private func fields(_ request: HTTPRequest) throws -> RecordFieldPicker? {
        guard let raw = request.query("fields"), !raw.isEmpty else { return nil }
        return try RecordFieldPicker(raw)
    }

    /// Completes with `answer(value)` on `loop`, or the error's response.
    private func answer<Value: Sendable>(
        on loop: any EventLoop, _ start: (@escaping @Sendable (Result<Value, RecordError>) -> Void) -> Void,
        _ answer: @escaping @Sendable (Value) -> HTTPResponse
    ) -> RecordAnswer {
        let promise = loop.makePromise(of: HTTPResponse.self)
        start { result in
            switch result {
            case .success(let value): promise.succeed(answer(value))
            case .failure(let error): promise.succeed(RecordJSON.error(error))
            }
        }
        return .later(promise.futureResult)
    }

    // MARK: - Collections

    private func listCollections() -> RecordAnswer {
        let definitions = records.definitions
        let counts = records.recordCounts()
        return .now(
            .json { buffer in
                buffer.writeStaticString("{\"page\":1,\"perPage\":")
                buffer.writeDecimal(max(1, definitions.count))
                buffer.writeStaticString(",\"totalItems\":")
                buffer.writeDecimal(definitions.count)
                buffer.writeStaticString(",\"totalPages\":1,\"items\":[")
                for (index, definition) in definitions.enumerated() {
                    if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                    RecordJSON.collection(&buffer, definition, records: counts[definition.name] ?? 0)
                }
                buffer.writeStaticString("]}")
            })
    }

    private func viewCollection(_ request: HTTPRequest) throws -> RecordAnswer {
        let name = collectionName(request)
        guard let definition = records.definition(name) else { throw RecordError.collectionNotFound }
        let count = records.recordCounts()[name] ?? 0
        return .now(.json { RecordJSON.collection(&$0, definition, records: count) })
    }

    private func createCollection(_ request: HTTPRequest, _ caller: RecordCaller, _ loop: any EventLoop) throws
        -> RecordAnswer
    {
        let definition = try RecordCollectionDefinition(json: try parsedBody(request))
        return answer(on: loop, { records.saveCollection(definition, replace: false, completion: $0) }) { saved in
            .json { RecordJSON.collection(&$0, saved, records: 0) }
        }
    }

    /// PATCH: the members given replace the definition's (`schema`, rules); the others stay.
    private func updateCollection(_ request: HTTPRequest, _ caller: RecordCaller, _ loop: any EventLoop) throws
        -> RecordAnswer
    {
        let name = collectionName(request)
        guard let current = records.definition(name) else { throw RecordError.collectionNotFound }
        guard case .object(let members) = try parsedBody(request) else { throw RecordError.badRequest("") }
        if let renamed = members.first(where: { $0.key == "name" })?.value.stringValue, renamed != name {
            throw RecordError.invalidField("name", "A collection cannot be renamed.")
        }
        guard case .object(var merged) = JSONValue.parseDefinition(current) else { throw RecordError.badRequest("") }
        for member in members {
            if let index = merged.firstIndex(where: { $0.key == member.key }) {
                merged[index].value = member.value
            } else {
                merged.append(member)
            }
        }
        let definition = try RecordCollectionDefinition(json: .object(merged), name: name)
        let count = records.recordCounts()[name] ?? 0
        return answer(on: loop, { records.saveCollection(definition, replace: true, completion: $0) }) { saved in
            .json { RecordJSON.collection(&$0, saved, records: count) }
        }
    }

    private func deleteCollection(_ request: HTTPRequest, _ caller: RecordCaller, _ loop: any EventLoop) throws
        -> RecordAnswer
    {
        let name = collectionName(request)
        return answer(on: loop, { records.deleteCollection(name, completion: $0) }) { _ in
            HTTPResponse(status: .noContent)
        }
    }

    // MARK: - Records

    private func listRecords(_ request: HTTPRequest, _ caller: RecordCaller, _ loop: any EventLoop) throws
        -> RecordAnswer
    {
        var query = RecordListQuery()
        if let page = request.query("page").flatMap(Int.init) { query.page = page }
        if let perPage = request.query("perPage").flatMap(Int.init) { query.perPage = perPage }
        query.filter = request.query("filter").flatMap { $0.isEmpty ? nil : $0 }
        query.sort = request.query("sort")
        query.skipTotal = ["1", "true"].contains(request.query("skipTotal") ?? "")
        let fields = try fields(request)
        let page = try records.list(collectionName(request), query: query, caller: caller, now: bus.clock())
        return .now(.json { RecordJSON.page(&$0, page, fields: fields) })
    }

    private func viewRecord(_ request: HTTPRequest, _ caller: RecordCaller, _ loop: any EventLoop) throws
        -> RecordAnswer
    {
        let fields = try fields(request)
        let record = try records.view(
            collectionName(request), id: request.parameters["id"] ?? "", caller: caller, now: bus.clock())
        return .now(RecordJSON.record(record, fields: fields))
    }

    private func createRecord(_ request: HTTPRequest, _ caller: RecordCaller, _ loop: any EventLoop) throws
        -> RecordAnswer
    {
        let (body, fields) = (try parsedBody(request), try fields(request))
        let name = collectionName(request)
        return answer(on: loop, { records.create(name, body: body, caller: caller, now: bus.clock(), completion: $0) })
        {
            RecordJSON.record($0, fields: fields)
        }
    }

    private func updateRecord(_ request: HTTPRequest, _ caller: RecordCaller, _ loop: any EventLoop) throws
        -> RecordAnswer
    {
        let (body, fields) = (try parsedBody(request), try fields(request))
        let (name, id, ifMatch) = (collectionName(request), request.parameters["id"] ?? "", try ifMatch(request))
        return answer(
            on: loop,
            {
                records.update(
                    name, id: id, body: body, ifMatch: ifMatch, caller: caller, now: bus.clock(), completion: $0)
            }
        ) { RecordJSON.record($0, fields: fields) }
    }

    private func deleteRecord(_ request: HTTPRequest, _ caller: RecordCaller, _ loop: any EventLoop) throws
        -> RecordAnswer
    {
        let (name, id, ifMatch) = (collectionName(request), request.parameters["id"] ?? "", try ifMatch(request))
        return answer(
            on: loop,
            { records.delete(name, id: id, ifMatch: ifMatch, caller: caller, now: bus.clock(), completion: $0) }
        ) { _ in HTTPResponse(status: .noContent) }
    }

    /// `If-Match: "3"` (the ETag a view answered), `W/"3"` or `3`; `*` matches any version. Anything else
    /// matches no version: 412.
    private func ifMatch(_ request: HTTPRequest) throws -> UInt64? {
        try Self.ifMatch(request.head.headers.first(name: "If-Match"))
    }

    /// An `If-Match` value as a version (nil: none, or `*`); one naming no version throws 412.
    static func ifMatch(_ header: String?) throws -> UInt64? {
        guard var value = header?.trimmingCharacters(in: .whitespaces) else { return nil }
        if value == "*" { return nil }
        if value.hasPrefix("W/") { value.removeFirst(2) }
        if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
            value = String(value.dropFirst().dropLast())
        }
        guard let version = UInt64(value) else { throw RecordError.versionConflict(current: 0) }
        return version
    }
}

extension JSONValue {
    /// A definition as the JSON value PATCH merges into.
    static func parseDefinition(_ definition: RecordCollectionDefinition) -> JSONValue {
        (try? JSONValue.parse(definition.json)) ?? .object([])
    }
}
