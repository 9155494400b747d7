extension AMQPMethod {
    /// The method's name as the spec and RabbitMQ's logs write it, e.g. "basic.publish".
    package var name: String { Self.name(classID: classID, methodID: methodID) }

    /// "class.method" for a pair of ids, or the ids in braces when the pair is not a method.
    package static func name(classID: UInt16, methodID: UInt16) -> String {
        let names: (String, [UInt16: String])? =
            switch classID {
            case 10:
                (
                    "connection",
                    [
                        10: "start", 11: "start-ok", 20: "secure", 21: "secure-ok", 30: "tune", 31: "tune-ok",
                        40: "open", 41: "open-ok", 50: "close", 51: "close-ok", 60: "blocked", 61: "unblocked",
                        70: "update-secret", 71: "update-secret-ok",
                    ]
                )
            case 20: ("channel", [10: "open", 11: "open-ok", 20: "flow", 21: "flow-ok", 40: "close", 41: "close-ok"])
            case 40:
                (
                    "exchange",
                    [
                        10: "declare", 11: "declare-ok", 20: "delete", 21: "delete-ok", 30: "bind", 31: "bind-ok",
                        40: "unbind", 51: "unbind-ok",
                    ]
                )
            case 50:
                (
                    "queue",
                    [
                        10: "declare", 11: "declare-ok", 20: "bind", 21: "bind-ok", 30: "purge", 31: "purge-ok",
                        40: "delete", 41: "delete-ok", 50: "unbind", 51: "unbind-ok",
                    ]
                )
            case 60:
                (
                    "basic",
                    [
                        10: "qos", 11: "qos-ok", 20: "consume", 21: "consume-ok", 30: "cancel", 31: "cancel-ok",
                        40: "publish", 50: "return", 60: "deliver", 70: "get", 71: "get-ok", 72: "get-empty",
                        80: "ack", 90: "reject", 100: "recover-async", 110: "recover", 111: "recover-ok", 120: "nack",
                    ]
                )
            case 85: ("confirm", [10: "select", 11: "select-ok"])
            case 90:
                (
                    "tx",
                    [10: "select", 11: "select-ok", 20: "commit", 21: "commit-ok", 30: "rollback", 31: "rollback-ok"]
                )
            default: nil
            }
        guard let (className, methods) = names, let methodName = methods[methodID] else {
            return "{\(classID), \(methodID)}"
        }
        return "\(className).\(methodName)"
    }
}
