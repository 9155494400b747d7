package import BusCore
import Foundation

/// Publish and subscribe filters as configured, with `{user}` and `{client}` placeholders, resolved
/// into `TopicPermissions` per connection. A direction no rule mentions is unrestricted; a direction
/// with rules allows only what they match (an empty list allows nothing).
package struct PermissionTemplate: Sendable, Equatable {
    /// nil: no rule for this direction.
    package var publish: [String]?
    package var subscribe: [String]?
    /// Ordered allow/deny rules, asked first (`TopicACL`).
    package var acl: [SecuritySettings.ACLEntry]
    /// The queue broker's permissions per virtual host; nil: no rule (every virtual host, every resource).
    package var vhosts: [String: [SecuritySettings.VirtualHostRule]]?

    package init(
        publish: [String]? = nil, subscribe: [String]? = nil, acl: [SecuritySettings.ACLEntry]? = nil,
        vhosts: [String: SecuritySettings.VirtualHostRule]? = nil
    ) {
        self.publish = publish
        self.subscribe = subscribe
        self.acl = acl ?? []
        self.vhosts = vhosts?.mapValues { [$0] }
    }

    /// The union of several rule sets: a direction is restricted once any of them restricts it; the ACL
    /// rules are asked in the order of the templates.
    package static func union(_ templates: [PermissionTemplate]) -> PermissionTemplate {
        func merge(_ lists: [[String]?]) -> [String]? {
            let present = lists.compactMap { $0 }
            return present.isEmpty ? nil : present.flatMap { $0 }
        }
        var union = PermissionTemplate(
            publish: merge(templates.map(\.publish)), subscribe: merge(templates.map(\.subscribe)),
            acl: templates.flatMap(\.acl))
        // Virtual hosts: restricted once any source lists one; a host's grants are every source's.
        for vhosts in templates.compactMap(\.vhosts) {
            union.vhosts = union.vhosts ?? [:]
            for (host, rules) in vhosts { union.vhosts?[host, default: []].append(contentsOf: rules) }
        }
        return union
    }

    /// Checks every filter with sample values for the placeholders; the error names the bad one.
    package func validate(context: String) throws(SecurityConfigurationError) {
        for (index, entry) in acl.enumerated() {
            guard entry.permission == "allow" || entry.permission == "deny" else {
                throw SecurityConfigurationError("\(context).acl[\(index)]: permission must be \"allow\" or \"deny\"")
            }
            guard ["publish", "subscribe", "all"].contains(entry.action) else {
                throw SecurityConfigurationError(
                    "\(context).acl[\(index)]: action must be \"publish\", \"subscribe\" or \"all\"")
            }
        }
        for (host, rules) in vhosts ?? [:] {
            for rule in rules {
                for pattern in [rule.configure, rule.write, rule.read].compactMap({ $0 })
                where !ResourcePermissions.isValidPattern(pattern.replacingOccurrences(of: "{user}", with: "user")) {
                    throw SecurityConfigurationError(
                        "\(context).vhosts.\(host): \"\(pattern)\" is not a valid regular expression")
                }
            }
        }
        for text in (publish ?? []) + (subscribe ?? []) + acl.flatMap(\.topics) {
            let sample = Self.substitute(text, user: "user", client: "client") ?? text
            if (try? TopicFilter(sample)) == nil {
                throw SecurityConfigurationError("\(context): \"\(text)\" is not a valid topic filter")
            }
        }
    }

    /// The permissions of one connection.
    package func resolve(user: String?, client: String?) -> TopicPermissions {
        var rules: [TopicACL.Rule] = []
        for entry in acl {
            for text in entry.topics {
                // A rule whose placeholder cannot be filled: a deny still applies to what it could name
                // (nothing), an allow grants nothing; both are skipped.
                guard let filter = Self.substitute(text, user: user, client: client).flatMap({ try? TopicFilter($0) })
                else { continue }
                rules.append(
                    TopicACL.Rule(
                        allow: entry.permission == "allow", publish: entry.action != "subscribe",
                        subscribe: entry.action != "publish", filter: filter))
            }
        }
        return TopicPermissions(
            publish: Self.rule(publish, user: user, client: client),
            subscribe: Self.rule(subscribe, user: user, client: client), acl: TopicACL(rules),
            resources: resources(user: user))
    }

    /// The virtual-host rules of one connection: `{user}` becomes the user name with its metacharacters
    /// escaped; an expression naming `{user}` grants nothing to an anonymous client.
    private func resources(user: String?) -> ResourcePermissions {
        guard let vhosts else { return .unrestricted }
        func fill(_ pattern: String?) -> String {
            guard let pattern, !pattern.isEmpty else { return "" }
            guard pattern.contains("{user}") else { return pattern }
            guard let user, !user.isEmpty else { return "" }
            return pattern.replacingOccurrences(of: "{user}", with: ResourcePermissions.escapedPattern(user))
        }
        return ResourcePermissions(
            grants: vhosts.mapValues { rules in
                rules.map {
                    ResourcePermissions.Grant(configure: fill($0.configure), write: fill($0.write), read: fill($0.read))
                }
            })
    }

    private static func rule(_ texts: [String]?, user: String?, client: String?) -> TopicPermissions.Rule {
        guard let texts else { return .all }
        return .only(
            texts.compactMap { text in
                substitute(text, user: user, client: client).flatMap { try? TopicFilter($0) }
            })
    }

    /// Replaces the placeholders; nil when a needed value is missing or could widen the filter (a `/`,
    /// `+` or `#` in a user or client id must never turn `users/{user}/#` into someone else's tree).
    static func substitute(_ text: String, user: String?, client: String?) -> String? {
        var result = text
        for (placeholder, value) in [("{user}", user), ("{client}", client)] where result.contains(placeholder) {
            guard let value, !value.isEmpty, !value.contains(where: { $0 == "/" || $0 == "+" || $0 == "#" }) else {
                return nil
            }
            result = result.replacingOccurrences(of: placeholder, with: value)
        }
        return result
    }
}

/// A `security` section that cannot be used; the message names the key.
package struct SecurityConfigurationError: Error, CustomStringConvertible, Equatable {
    package var description: String
    package init(_ description: String) { self.description = description }
}
