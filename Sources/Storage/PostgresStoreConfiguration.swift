import Foundation

/// Where the PostgreSQL store connects, read from a `postgres://` URL (docs/storage.md):
///
///     postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?password_file=PATH][&sslmode=MODE][&sslrootcert=PATH]
///         [&shared_instances=true][&read_connections=N]
///
/// The password comes from the URL or, so that it stays out of process listings and config files, from
/// the first line of `password_file`; giving both is an error. `sslmode` is libpq's: `disable` (the
/// default), `require` (TLS, the certificate not verified — unless `sslrootcert` is given, then as
/// `verify-ca`, as libpq does), `verify-ca` (the chain, against `sslrootcert` or the system's roots) and
/// `verify-full` (the chain and the host name). `prefer` and `allow`, which fall back to plain TCP, are
/// refused: a store connection is either encrypted or not, never silently downgraded.
/// `shared_instances=true` says several instances use the database at once: MQTT sessions are then
/// owned per instance (`PostgresSessionOwnership`). `read_connections` (1–32, default 4) is the size of
/// the pool that reads stream records below the memory tail (`PostgresStreamReader`): as many reads run
/// at once, each on a connection of its own, beside the writer's.
package struct PostgresStoreConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// Whether the connection uses TLS, and what it verifies (libpq's `sslmode`).
    package enum TLSMode: String, Sendable {
        /// Plain TCP (loopback, or a network that is private already).
        case disable
        /// TLS; the certificate is not verified (with a root certificate given: `verifyCA`).
        case require
        /// TLS; the certificate must chain to a trusted root; the host name is not checked.
        case verifyCA = "verify-ca"
        /// TLS; the certificate must chain to a trusted root and name the host.
        case verifyFull = "verify-full"
    }

    package var host: String
    package var port: Int
    package var user: String
    package var password: String?
    package var database: String
    package var tls: TLSMode
    /// PEM file of the roots the server's certificate must chain to (libpq's `sslrootcert`); nil: the
    /// system's roots.
    package var rootCertificateFile: String?
    /// Several instances share the database (`shared_instances=true`): sessions are owned per instance.
    package var sharedInstances = false
    /// Connections that read stream records at once (`read_connections`).
    package var readConnections = Self.defaultReadConnections

    /// PostgreSQL's own default port.
    package static let defaultPort = 5432
    /// Stream readers when the URL does not say.
    package static let defaultReadConnections = 4

    package init(
        host: String, port: Int = Self.defaultPort, user: String, password: String?, database: String,
        tls: TLSMode = .disable, rootCertificateFile: String? = nil
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
        self.rootCertificateFile = rootCertificateFile
    }

    /// Parses `url` (`postgres://` or `postgresql://`); reads `password_file` when it is given.
    package init(url: String) throws {
        guard let components = URLComponents(string: url),
            let scheme = components.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql"
        else { throw StoreError("\(Self.redacted(url)) is not a postgres:// URL") }
        guard let host = components.host, !host.isEmpty else {
            throw StoreError("\(Self.redacted(url)): no host")
        }
        guard let user = components.user, !user.isEmpty else {
            throw StoreError("\(Self.redacted(url)): no user (postgres://USER@HOST/DATABASE)")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw StoreError("\(Self.redacted(url)): no database (postgres://USER@HOST/DATABASE)")
        }
        let port = components.port ?? Self.defaultPort
        guard (1...65535).contains(port) else {
            throw StoreError("\(Self.redacted(url)): port \(port) is out of range")
        }
        var password = components.password
        var tls = TLSMode.disable
        var rootCertificateFile: String?
        var sharedInstances = false
        var readConnections = Self.defaultReadConnections
        for item in components.queryItems ?? [] {
            switch item.name {
            case "password_file":
                guard let path = item.value, !path.isEmpty else {
                    throw StoreError("\(Self.redacted(url)): password_file needs a path")
                }
                guard password == nil else {
                    throw StoreError("\(Self.redacted(url)): a password and a password_file; give one")
                }
                password = try Self.readPassword(path)
            case "sslmode":
                guard let value = item.value, let mode = TLSMode(rawValue: value) else {
                    throw StoreError(
                        "\(Self.redacted(url)): sslmode must be disable, require, verify-ca or verify-full")
                }
                tls = mode
            case "sslrootcert":
                guard let path = item.value, !path.isEmpty else {
                    throw StoreError("\(Self.redacted(url)): sslrootcert needs a path")
                }
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw StoreError("\(Self.redacted(url)): cannot read the sslrootcert file \(path)")
                }
                rootCertificateFile = path
            case "shared_instances":
                guard let value = item.value, value == "true" || value == "false" else {
                    throw StoreError("\(Self.redacted(url)): shared_instances must be true or false")
                }
                sharedInstances = value == "true"
            case "read_connections":
                guard let value = item.value.flatMap(Int.init), (1...32).contains(value) else {
                    throw StoreError("\(Self.redacted(url)): read_connections must be a number from 1 to 32")
                }
                readConnections = value
            default:
                throw StoreError(
                    "\(Self.redacted(url)): unknown parameter \(item.name) (password_file, sslmode, sslrootcert, "
                        + "shared_instances, read_connections)")
            }
        }
        if rootCertificateFile != nil && tls == .disable {
            throw StoreError("\(Self.redacted(url)): sslrootcert needs an sslmode other than disable")
        }
        // libpq: `require` with a root certificate file verifies the chain.
        if rootCertificateFile != nil && tls == .require { tls = .verifyCA }
        self.init(
            host: host, port: port, user: user, password: password, database: database, tls: tls,
            rootCertificateFile: rootCertificateFile)
        self.sharedInstances = sharedInstances
        self.readConnections = readConnections
    }

    /// The URL without its password, for logs.
    package var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var query: [String] = tls == .disable ? [] : ["sslmode=\(tls.rawValue)"]
        if let rootCertificateFile { query.append("sslrootcert=\(rootCertificateFile)") }
        if sharedInstances { query.append("shared_instances=true") }
        if readConnections != Self.defaultReadConnections { query.append("read_connections=\(readConnections)") }
        return "postgres://\(user)@\(hostPart):\(port)/\(database)"
            + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    /// The first line of the file at `path` (a trailing newline is not part of the password).
    static func readPassword(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else { throw StoreError("cannot read the password file \(path)") }
        // `"\r\n"` is one Character in Swift: splitting on `"\n"` kept it, and the password with it.
        return String(
            text.split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: \.isNewline).first ?? "")
    }

    /// `url` with any password replaced, so an error message never carries it.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "postgres://…"
    }
}
