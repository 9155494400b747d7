import Foundation
package import FrontendKit
package import SecurityKit

/// The `tls` section of the config file: one certificate for every TLS listener, and which listeners.
package struct TLSSettings: Sendable, Decodable, Equatable {
    /// PEM certificate chain (server certificate first).
    package var cert_file: String
    /// PEM private key.
    package var key_file: String
    /// PEM CA bundle that client certificates must chain to; turns on mTLS (the certificate's common
    /// name becomes the user id when no other credentials are given).
    package var client_ca_file: String?
    /// Refuse clients without a certificate (default false: checked when presented).
    package var require_client_cert: Bool?
    /// HTTPS/WSS port serving everything the HTTP port serves (e.g. 8443); none by default.
    package var https_port: Int?
    /// Legacy spelling of `mqtt.tls_port` (MQTT over TLS, 8883 by convention).
    package var mqtt_port: Int?
    /// Legacy spelling of `nats.tls` (the NATS port requires TLS).
    package var nats: Bool?

    package init(cert_file: String, key_file: String) {
        self.cert_file = cert_file
        self.key_file = key_file
    }
}

extension ServerConfiguration {
    /// The file's `security` and `tls` sections. Without an explicit `anonymous`, a file that configures
    /// users or JWT keys turns anonymous access off: anonymous is the default only for a server with
    /// no credentials configured (the startup log says when it is on).
    mutating func apply(securityFile data: Data) throws {
        struct Limits: Decodable {
            var max_connections_per_ip: Int?
            var max_connects_per_second: Int?
        }
        struct Sections: Decodable {
            var anonymous: Bool?
            var security: SecuritySettings?
            var tls: TLSSettings?
            var limits: Limits?
        }
        let sections: Sections
        do { sections = try JSONDecoder().decode(Sections.self, from: data) } catch {
            throw ConfigurationError("config file: security or tls section is not valid: \(error)")
        }
        if let value = sections.security {
            security = value
            if sections.anonymous == nil && value.hasCredentials { anonymous = false }
        }
        if let value = sections.limits?.max_connections_per_ip {
            guard value >= 0 else { throw ConfigurationError("limits.max_connections_per_ip must not be negative") }
            limits.maxConnectionsPerAddress = value
        }
        if let value = sections.limits?.max_connects_per_second {
            guard value >= 0 else { throw ConfigurationError("limits.max_connects_per_second must not be negative") }
            limits.maxConnectsPerSecond = value
        }
        if let value = sections.tls {
            for (key, port) in [("tls.https_port", value.https_port), ("tls.mqtt_port", value.mqtt_port)] {
                if let port, !(0...65535).contains(port) { throw ConfigurationError("\(key) \(port) is out of range") }
            }
            tls = value
            // Legacy spellings of the frontends' own keys (`mqtt.tls_port`, `nats.tls`).
            if let port = value.mqtt_port {
                try setFrontend("mqtt", "tls_port", text: String(port), source: "tls.mqtt_port")
            }
            if let required = value.nats { try setFrontend("nats", "tls", text: String(required), source: "tls.nats") }
        }
    }
}

/// The authenticator and TLS context the listeners share, prepared once at startup (JWT keys are
/// resolved asynchronously; certificates and keys are read from disk).
package struct ServerSecurity: Sendable {
    package var authenticator: any Authenticator
    package var tls: ServerTLS?

    package init(authenticator: any Authenticator, tls: ServerTLS? = nil) {
        self.authenticator = authenticator
        self.tls = tls
    }

    /// Checks the `security` and `tls` sections and loads what they name.
    package static func load(_ configuration: ServerConfiguration) async throws -> ServerSecurity {
        let authenticator: SwitchboardAuthenticator
        do {
            authenticator = try await SwitchboardAuthenticator.make(
                settings: configuration.security, anonymous: configuration.anonymous, tokens: configuration.tokens)
        } catch let error as SecurityConfigurationError {
            throw ConfigurationError(error.description)
        }
        var tls: ServerTLS?
        if let settings = configuration.tls {
            do {
                tls = try ServerTLS(
                    certificateFile: settings.cert_file, keyFile: settings.key_file,
                    clientCAFile: settings.client_ca_file,
                    requireClientCertificate: settings.require_client_cert ?? false)
            } catch {
                throw ConfigurationError("tls: cannot load the certificate, key or client CA: \(error)")
            }
        }
        return ServerSecurity(authenticator: authenticator, tls: tls)
    }

    /// Static tokens only, no TLS: for embedders and tests that need no `load`.
    package static func basic(_ configuration: ServerConfiguration) -> ServerSecurity {
        ServerSecurity(
            authenticator: StaticTokenAuthenticator(
                allowsAnonymous: configuration.anonymous, tokens: configuration.tokens))
    }
}
