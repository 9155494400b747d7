/// Why a topic or filter was refused. The message is meant for the client that sent it.
package enum TopicError: Error, Hashable, Sendable, CustomStringConvertible {
    case empty
    case tooLong(limit: Int)
    case tooManyLevels(limit: Int)
    case containsNull
    case wildcardInTopic
    case misplacedMultiLevelWildcard
    case misplacedSingleLevelWildcard
    case malformedSharedSubscription

    package var description: String {
        switch self {
        case .empty: "topic must not be empty"
        case .tooLong(let limit): "topic is longer than \(limit) bytes"
        case .tooManyLevels(let limit): "topic has more than \(limit) levels"
        case .containsNull: "topic must not contain U+0000"
        case .wildcardInTopic: "a topic name must not contain the wildcards '+' or '#'"
        case .misplacedMultiLevelWildcard: "'#' must be the last level and stand alone in it"
        case .misplacedSingleLevelWildcard: "'+' must stand alone in its level"
        case .malformedSharedSubscription:
            "a shared subscription is $share/<group>/<filter> with a non-empty group without '+', '#' or '/'"
        }
    }
}
