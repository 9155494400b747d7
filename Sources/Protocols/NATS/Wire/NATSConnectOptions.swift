import BusCore

/// The client's `CONNECT` options (fields the reference server documents; unknown ones are ignored).
package struct NATSConnectOptions: Sendable, Equatable {
    /// `+OK` after every valid operation.
    package var verbose = false
    /// Stricter checks; we always check subjects strictly, so this changes nothing here.
    package var pedantic = false
    package var tlsRequired = false
    package var authToken: String?
    package var user: String?
    package var password: String?
    /// A user JWT: NATS decentralised auth (header alg `ed25519-nkey`, with `sig`) or this server's own
    /// JWT as a bearer token; the authenticator tells them apart.
    package var jwt: String?
    /// A user public NKey (`U…`) whose seed signed INFO's `nonce` (`sig`).
    package var nkey: String?
    /// The client's ed25519 signature of INFO's `nonce`, base64 (URL or standard alphabet).
    package var signature: String?
    package var name: String?
    package var lang: String?
    package var version: String?
    /// 0 (original) or 1 (dynamic reconfiguration aware); anything else is refused.
    package var protocolLevel = 0
    /// Deliver this connection's own publications back to its matching subscriptions.
    package var echo = true
    /// The client understands `HMSG`.
    package var headers = false
    /// Answer requests that reach no subscriber with a 503 status message at once.
    package var noResponders = false

    package init() {}

    /// Parses the JSON argument of `CONNECT`.
    package static func parse(_ bytes: UnsafeRawBufferPointer) throws(NATSProtocolError) -> NATSConnectOptions {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw .malformed("CONNECT expects a JSON object (\(error))")
        }
        guard case .object(let fields) = value else { throw .malformed("CONNECT expects a JSON object") }
        var options = NATSConnectOptions()
        for field in fields {
            let value = field.value
            switch field.key {
            case "verbose": options.verbose = try bool(value, field.key)
            case "pedantic": options.pedantic = try bool(value, field.key)
            case "tls_required": options.tlsRequired = try bool(value, field.key)
            case "echo": options.echo = try bool(value, field.key)
            case "headers": options.headers = try bool(value, field.key)
            case "no_responders": options.noResponders = try bool(value, field.key)
            case "auth_token": options.authToken = try string(value, field.key)
            case "user": options.user = try string(value, field.key)
            case "pass": options.password = try string(value, field.key)
            case "jwt": options.jwt = try string(value, field.key)
            case "nkey": options.nkey = try string(value, field.key)
            case "sig": options.signature = try string(value, field.key)
            case "name": options.name = try string(value, field.key)
            case "lang": options.lang = try string(value, field.key)
            case "version": options.version = try string(value, field.key)
            case "protocol":
                guard let level = value.intValue else { throw .malformed("CONNECT \"protocol\" must be a number") }
                options.protocolLevel = level
            default:
                break  // account, tls options … : not used by this server
            }
        }
        return options
    }

    /// The credential a token authenticator checks: a bearer token travels as `auth_token`, as `pass`
    /// (with or without a user) or as `jwt`.
    package var credential: String? { authToken ?? jwt ?? password }

    /// The token the authenticator gets: with a nonce signature the `jwt` is a NATS user JWT and wins over
    /// an `auth_token` sent beside it (nats.py sends both when given credentials and a token, and
    /// nats-server judges the JWT); otherwise `auth_token`, then `jwt`.
    package var token: String? { signature != nil ? (jwt ?? authToken) : (authToken ?? jwt) }

    private static func bool(_ value: JSONValue, _ key: String) throws(NATSProtocolError) -> Bool {
        switch value {
        case .bool(let flag): return flag
        case .null: return false
        default: throw .malformed("CONNECT \"\(key)\" must be true or false")
        }
    }

    private static func string(_ value: JSONValue, _ key: String) throws(NATSProtocolError) -> String? {
        switch value {
        case .string(let text): return text
        case .null: return nil
        default: throw .malformed("CONNECT \"\(key)\" must be a string")
        }
    }
}
