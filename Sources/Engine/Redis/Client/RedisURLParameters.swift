import Foundation
import NIOSSL

/// The query parameters a Redis URL may carry (`redis://…?password_file=/run/secrets/redis`), named as
/// redis-py names its TLS ones so a Redis user recognises them:
///
/// | parameter | meaning |
/// |---|---|
/// | `password_file=PATH` | the password is the first line of `PATH`; a password in the URL too is an error |
/// | `ssl_ca_certs=PATH` | PEM roots the server's certificate must chain to (a private CA); TLS URLs only |
/// | `ssl_certfile=PATH`, `ssl_keyfile=PATH` | a client certificate and its key (Redis's `tls-auth-clients yes`); both or neither |
/// | `sentinel_user=NAME` | Sentinel URLs: the ACL user the sentinels are asked as |
/// | `sentinel_password=…`, `sentinel_password_file=PATH` | Sentinel URLs: the sentinels' `requirepass` (or the user's password) |
///
/// Every file is read when the URL is parsed, so `serve` refuses a configuration whose file is missing
/// at start rather than at the first reconnect. An unknown parameter is an error (a misspelt
/// `ssl_ca_cert` must not silently fall back to the system's roots).
struct RedisURLParameters {
    var passwordFile: String?
    var caCertificatesFile: String?
    var certificateFile: String?
    var keyFile: String?
    var sentinelUser: String?
    var sentinelPassword: String?
    var sentinelPasswordFile: String?

    static let names = [
        "password_file", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "sentinel_user", "sentinel_password",
        "sentinel_password_file",
    ]

    /// Reads `name=value&…` (percent-decoded; `+` is not a space, as in RFC 3986's query).
    init(query: Substring, refuse: (String) -> RedisClientError) throws {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let name = String(parts[0]).removingPercentEncoding,
                let value = String(parts[1]).removingPercentEncoding
            else { throw refuse("a query parameter that is not name=value") }
            guard !value.isEmpty else { throw refuse("\(name) needs a value") }
            switch name {
            case "password_file": passwordFile = value
            case "ssl_ca_certs": caCertificatesFile = value
            case "ssl_certfile": certificateFile = value
            case "ssl_keyfile": keyFile = value
            case "sentinel_user": sentinelUser = value
            case "sentinel_password": sentinelPassword = value
            case "sentinel_password_file": sentinelPasswordFile = value
            default:
                throw refuse("unknown parameter \(name) (\(Self.names.joined(separator: ", ")))")
            }
        }
    }

    var mentionsSentinel: Bool { sentinelUser != nil || sentinelPassword != nil || sentinelPasswordFile != nil }
    var mentionsTLS: Bool { caCertificatesFile != nil || certificateFile != nil || keyFile != nil }

    /// Applies the parameters to a configuration parsed from the rest of the URL.
    func apply(to configuration: inout RedisClientConfiguration, refuse: (String) -> RedisClientError) throws {
        if let passwordFile {
            guard configuration.password == nil else {
                throw refuse("a password and a password_file; give one")
            }
            configuration.password = try Self.readPassword(passwordFile, refuse: refuse)
        }
        if mentionsTLS {
            guard var tls = configuration.tls else {
                throw refuse("ssl_ca_certs, ssl_certfile and ssl_keyfile need rediss:// or rediss-sentinel://")
            }
            if let caCertificatesFile {
                // Loaded now to refuse an unreadable or non-PEM file at start; NIOSSL reads the file again
                // for each connection's context.
                do { _ = try NIOSSLCertificate.fromPEMFile(caCertificatesFile) } catch {
                    throw refuse("cannot read ssl_ca_certs \(caCertificatesFile) as PEM certificates: \(error)")
                }
                tls.trustRoots = .file(caCertificatesFile)
            }
            switch (certificateFile, keyFile) {
            case (nil, nil): break
            case (let certificateFile?, let keyFile?):
                do {
                    tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
                    tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
                } catch {
                    throw refuse("cannot read ssl_certfile \(certificateFile) / ssl_keyfile \(keyFile): \(error)")
                }
            default: throw refuse("ssl_certfile and ssl_keyfile go together")
            }
            configuration.tls = tls
        }
        if mentionsSentinel {
            guard configuration.sentinel != nil else {
                throw refuse("sentinel_user, sentinel_password and sentinel_password_file need redis-sentinel://")
            }
            var password = sentinelPassword
            if let sentinelPasswordFile {
                guard password == nil else {
                    throw refuse("a sentinel_password and a sentinel_password_file; give one")
                }
                password = try Self.readPassword(sentinelPasswordFile, refuse: refuse)
            }
            guard password != nil || sentinelUser == nil else {
                throw refuse("sentinel_user needs sentinel_password or sentinel_password_file")
            }
            configuration.sentinel?.user = sentinelUser
            configuration.sentinel?.password = password
        }
    }

    /// The first line of the file at `path` (a trailing newline, or CR LF, is not part of the password).
    static func readPassword(_ path: String, refuse: (String) -> RedisClientError) throws -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else { throw refuse("cannot read the password file \(path)") }
        // `"\r\n"` is one Character in Swift, so split on newlines, not on `"\n"`.
        return String(
            text.split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: \.isNewline).first ?? "")
    }

    /// `url` with the password between `:` and `@` replaced, and `sentinel_password`'s value, so an error
    /// message never carries a secret.
    static func redacted(_ url: String) -> String {
        var text = url
        if let schemeEnd = text.range(of: "://") {
            let authorityEnd = text[schemeEnd.upperBound...].firstIndex(where: { "/?#".contains($0) }) ?? text.endIndex
            let authority = text[schemeEnd.upperBound..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                text.replaceSubrange(text.index(after: colon)..<at, with: "***")
            }
        }
        if let start = text.range(of: "sentinel_password=") {
            let end = text[start.upperBound...].firstIndex(where: { "&#".contains($0) }) ?? text.endIndex
            text.replaceSubrange(start.upperBound..<end, with: "***")
        }
        return text
    }
}
