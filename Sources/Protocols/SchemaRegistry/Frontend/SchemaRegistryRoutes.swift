package import BusCore
package import BusRuntime
package import FrontendKit
package import NIOCore
import NIOHTTP1
import SchemaKit

/// Confluent's Schema Registry endpoints over `bus.schemas`, mounted into any router (its own port here;
/// the Kafka REST listener could mount the same routes). Every route authenticates with the server's
/// authenticator (HTTP Basic or Bearer): reads need an authenticated client (anonymous when allowed),
/// writes an admin or a holder of one of `writeRoles` once security is configured.
package struct SchemaRegistryRoutes: Sendable {
    package let registry: SchemaRegistry
    let authenticator: any Authenticator
    let writeRoles: Set<String>

    package init(registry: SchemaRegistry, authenticator: any Authenticator, writeRoles: Set<String>) {
        self.registry = registry
        self.authenticator = authenticator
        self.writeRoles = writeRoles
    }

    package func register(into router: inout HTTPRouter.Builder) {
        read(&router, .GET, "/") { _, _ throws(SchemaRegistryError) in .json(.object([])) }
        registerSubjectRoutes(into: &router)
        registerSchemaRoutes(into: &router)
        registerConfigRoutes(into: &router)
    }

    // MARK: - Access

    /// A route anyone authenticated may use.
    func read(
        _ router: inout HTTPRouter.Builder, _ method: HTTPMethod, _ path: String,
        _ handler: @escaping @Sendable (HTTPRequest, any EventLoop) throws(SchemaRegistryError) -> SchemaRegistryAnswer
    ) {
        router.add(method, path, guarded(write: false, handler))
    }

    /// A route that changes the registry.
    func write(
        _ router: inout HTTPRouter.Builder, _ method: HTTPMethod, _ path: String,
        _ handler: @escaping @Sendable (HTTPRequest, any EventLoop) throws(SchemaRegistryError) -> SchemaRegistryAnswer
    ) {
        router.add(method, path, guarded(write: true, handler))
    }

    private func guarded(
        write: Bool,
        _ handler: @escaping @Sendable (HTTPRequest, any EventLoop) throws(SchemaRegistryError) -> SchemaRegistryAnswer
    ) -> HTTPRouter.Handler {
        let authenticator = self.authenticator
        let writeRoles = self.writeRoles
        return { request, loop in
            let credentials = request.head.headers.clientCredentials(query: nil)
            return authenticator.prepared(credentials, on: loop).flatMap { _ -> EventLoopFuture<HTTPResponse> in
                guard let identity = authenticator.authenticate(credentials).identity else {
                    var response = SchemaRegistryHTTP.error(SchemaRegistryError(code: 401, message: "Unauthorized"))
                    response.headers.add(name: "WWW-Authenticate", value: "Basic realm=\"schema-registry\"")
                    return loop.makeSucceededFuture(response)
                }
                if write && authenticator.isSecured && !identity.isAdmin
                    && writeRoles.isDisjoint(with: identity.roles)
                {
                    return loop.makeSucceededFuture(
                        SchemaRegistryHTTP.error(
                            SchemaRegistryError(
                                code: 40301,
                                message:
                                    "User \(identity.userID ?? "ANONYMOUS") is denied operation Write on the schema registry"
                            )))
                }
                do throws(SchemaRegistryError) {
                    switch try handler(request, loop) {
                    case .json(let value): return loop.makeSucceededFuture(SchemaRegistryHTTP.json(value))
                    case .text(let text):
                        return loop.makeSucceededFuture(SchemaRegistryHTTP.text(ByteBuffer(string: text)))
                    case .later(let future): return future
                    }
                } catch {
                    return loop.makeSucceededFuture(SchemaRegistryHTTP.error(error))
                }
            }
        }
    }

    /// Completes on `loop` with the JSON `answer` makes of a registry change's result (or its error body).
    static func answer<Value: Sendable>(
        on loop: any EventLoop,
        _ start: (@escaping @Sendable (Result<Value, SchemaRegistryError>) -> Void) -> Void,
        _ answer: @escaping @Sendable (Value) -> JSONValue
    ) -> SchemaRegistryAnswer {
        let promise = loop.makePromise(of: HTTPResponse.self)
        start { result in
            switch result {
            case .success(let value): promise.succeed(SchemaRegistryHTTP.json(answer(value)))
            case .failure(let error): promise.succeed(SchemaRegistryHTTP.error(error))
            }
        }
        return .later(promise.futureResult)
    }
}

/// What a registry route answers.
package enum SchemaRegistryAnswer {
    /// A JSON body.
    case json(JSONValue)
    /// A body as is (a schema's text).
    case text(String)
    /// An answer the store completes (a change).
    case later(EventLoopFuture<HTTPResponse>)
}
