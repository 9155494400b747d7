/// What one client may do with a broker's virtual hosts, exchanges and queues: RabbitMQ's permission
/// model (its "Access Control" guide). Per virtual host, three regular expressions over resource names —
/// `configure` (declare, delete), `write` (publish to an exchange, bind a queue or exchange as the
/// destination) and `read` (consume, get, purge a queue; bind from an exchange as the source) — searched
/// unanchored, as RabbitMQ does (write `^name$` for an exact name); the empty expression matches nothing.
/// A client may open only the virtual hosts it has an entry for.
///
/// `.unrestricted` when no permission source mentions virtual hosts (docs/security.md): every virtual
/// host and resource, as topics are unrestricted until some source lists filters. Topic permissions still
/// apply to `amq.topic` (the bus) on top of these.
package struct ResourcePermissions: Sendable, Hashable {
    /// The three kinds of access RabbitMQ checks.
    package enum Access: String, Sendable, Hashable {
        case configure
        case write
        case read
    }

    /// One source's expressions for one virtual host (already resolved: placeholders filled in).
    package struct Grant: Sendable, Hashable {
        package var configure: String
        package var write: String
        package var read: String

        package init(configure: String, write: String, read: String) {
            self.configure = configure
            self.write = write
            self.read = read
        }

        func pattern(for access: Access) -> String {
            switch access {
            case .configure: configure
            case .write: write
            case .read: read
            }
        }
    }

    /// Virtual host → the grants every source gave for it (any one allowing is enough); nil: unrestricted.
    package var grants: [String: [Grant]]?

    package init(grants: [String: [Grant]]? = nil) {
        self.grants = grants
    }

    /// No rule: every virtual host and resource.
    package static let unrestricted = ResourcePermissions()

    package var isUnrestricted: Bool { grants == nil }

    /// Whether the client may open `virtualHost` (AMQP connection.open; RabbitMQ refuses with 530).
    package func mayOpen(_ virtualHost: String) -> Bool {
        guard let grants else { return true }
        return grants[virtualHost] != nil
    }

    /// Whether the client may have `access` to the exchange or queue `resource` in `virtualHost`. The
    /// default exchange is checked by RabbitMQ's name for it, `amq.default`.
    package func may(_ access: Access, _ resource: String, in virtualHost: String) -> Bool {
        guard let grants else { return true }
        let name = resource.isEmpty ? "amq.default" : resource
        return grants[virtualHost, default: []].contains { grant in
            Self.search(grant.pattern(for: access), in: name)
        }
    }

    /// `may`, as RabbitMQ refuses: 403 ACCESS_REFUSED "access to queue 'q' in vhost '/' refused for user
    /// 'bob'" (`kind` is `queue` or `exchange`; `user` nil is `guest`). Every protocol with queues asks this.
    package func check(
        _ access: Access, _ kind: String, _ resource: String, in virtualHost: String, user: String?
    ) throws(BrokerRefusal) {
        guard !may(access, resource, in: virtualHost) else { return }
        throw BrokerRefusal(
            .accessRefused,
            "access to \(kind) '\(resource.isEmpty ? "amq.default" : resource)' in vhost '\(virtualHost)' refused for "
                + "user '\(user ?? "guest")'")
    }

    /// Whether `pattern` (a regular expression) matches somewhere in `name`; the empty pattern and one that
    /// does not compile match nothing (configurations are checked when loaded: `isValidPattern`).
    static func search(_ pattern: String, in name: String) -> Bool {
        guard !pattern.isEmpty, let expression = try? Regex(pattern) else { return false }
        return (try? expression.firstMatch(in: name)) != nil
    }

    /// Whether `pattern` compiles as a regular expression.
    package static func isValidPattern(_ pattern: String) -> Bool {
        pattern.isEmpty || (try? Regex(pattern)) != nil
    }

    /// `text` with every regular-expression metacharacter escaped, to put a user name into a pattern.
    package static func escapedPattern(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if "\\^$.|?*+()[]{}-/".contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}
