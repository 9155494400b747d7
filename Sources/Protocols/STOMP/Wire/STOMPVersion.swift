/// A STOMP protocol version; the connection's decides how header values are escaped.
package enum STOMPVersion: String, Sendable, Comparable, CaseIterable {
    case v1_0 = "1.0"
    case v1_1 = "1.1"
    case v1_2 = "1.2"

    package static func < (lhs: STOMPVersion, rhs: STOMPVersion) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// The versions this server speaks, as an ERROR names them.
    package static let supportedList = "1.0,1.1,1.2"

    /// The version for a CONNECT's `accept-version` header: the highest both sides speak; a CONNECT
    /// without the header is a 1.0 client (1.2 §"Protocol Negotiation"); nil when there is none in common.
    package static func negotiate(acceptVersion: String?) -> STOMPVersion? {
        guard let acceptVersion else { return .v1_0 }
        var best: STOMPVersion?
        for offered in acceptVersion.split(separator: ",") {
            let trimmed = offered.trimmingCharacters(in: " \t")
            if let version = STOMPVersion(rawValue: trimmed), best.map({ version > $0 }) ?? true {
                best = version
            }
        }
        return best
    }

    /// How header values are escaped in this version's frames.
    package var escaping: STOMPEscaping {
        switch self {
        case .v1_0: .none
        case .v1_1: .v1_1
        case .v1_2: .v1_2
        }
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var scalars = Substring(self)
        while let first = scalars.first, set.contains(first) { scalars.removeFirst() }
        while let last = scalars.last, set.contains(last) { scalars.removeLast() }
        return String(scalars)
    }
}
