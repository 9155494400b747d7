import BusCore
import BusRuntime
import FrontendKit
import MCP
import NIOCore
import NIOHTTP1

/// Who an MCP request comes from: the identity its bearer token (or Basic credentials) gives through the
/// shared authenticator, as every other protocol sees it.
struct MCPCaller: Sendable {
    /// nil: a guest on a secured server (no credentials where anonymous access is off).
    var identity: ClientIdentity?

    /// The records caller: an admin identity, or anyone on a server with no credentials configured
    /// (`seesEveryRecord`), passes every rule; the others are subject to the collection's rules, as on
    /// the HTTP API. Changes are broadcast with `changed_by: "mcp"`.
    var records: RecordCaller {
        guard let identity else {
            return RecordCaller(isAdmin: false, auth: RecordViewer.guest.auth, changedBy: "mcp")
        }
        return RecordCaller(
            isAdmin: identity.isAdmin || identity.seesEveryRecord, auth: identity.recordAuth, changedBy: "mcp")
    }

    var permissions: TopicPermissions {
        identity?.permissions ?? TopicPermissions(publish: .only([]), subscribe: .only([]))
    }

    /// The bus options of a resource subscription: the identity's read ACL and view rules.
    var subscriptionOptions: SubscriptionOptions {
        (identity ?? ClientIdentity(userID: nil)).subscriptionOptions()
    }
}

/// Why a request's credentials were refused (answered 401 before the SDK sees the request).
struct MCPAuthenticationRefused: Error {}

extension MCPToolbox {
    /// The caller of `headers` (FrontendKit's request), after the authenticator prepared the credentials
    /// off the loop where it must (JWKS); throws when credentials were given and refused.
    func caller(headers: HTTPHeaders, on loop: any EventLoop) async throws -> MCPCaller {
        let credentials = headers.clientCredentials(query: nil)
        if authenticator.isSecured, let preparing = authenticator.prepare(credentials, on: loop) {
            try? await preparing.get()
        }
        return try caller(credentials)
    }

    /// The caller of a request the SDK hands a handler (its HTTP context); a guest when there is none.
    func caller(_ request: MCP.HTTPRequest?) throws -> MCPCaller {
        var headers = HTTPHeaders()
        if let value = request?.header("Authorization") { headers.add(name: "Authorization", value: value) }
        return try caller(headers.clientCredentials(query: nil))
    }

    private func caller(_ credentials: ClientCredentials) throws -> MCPCaller {
        switch authenticator.authenticate(credentials) {
        case .accepted(let identity): return MCPCaller(identity: identity)
        case .refused:
            guard credentials.isEmpty else { throw MCPAuthenticationRefused() }
            return MCPCaller(identity: nil)
        }
    }
}
