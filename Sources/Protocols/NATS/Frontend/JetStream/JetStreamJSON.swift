import Foundation
package import NIOCore

/// Reading JetStream API requests and writing their responses. Requests are JSON objects whose members
/// are read leniently (unknown members ignored, as nats-server ignores them); responses carry `type`
/// (`io.nats.jetstream.api.v1.<kind>`) as nats-server's do.
package enum JetStreamJSON {
    /// The JSON object of a request payload; an empty payload is an empty object.
    package static func object(_ payload: ByteBuffer) throws(JetStreamAPIError) -> [String: Any] {
        guard payload.readableBytes > 0 else { return [:] }
        let data = Data(payload.readableBytesView)
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw .invalidJSON("\(error)")
        }
        guard let object = parsed as? [String: Any] else { throw .invalidJSON("not an object") }
        return object
    }

    /// A response document of `kind` (`stream_info_response` …).
    package static func response(_ kind: String, _ members: [String: Any]) -> ByteBuffer {
        var document = members
        document["type"] = "io.nats.jetstream.api.v1." + kind
        return encode(document)
    }

    /// An error response of `kind` (nats-server types error answers as the request's response kind).
    package static func error(_ kind: String, _ error: JetStreamAPIError) -> ByteBuffer {
        response(kind, ["error": error.json])
    }

    package static func encode(_ document: [String: Any]) -> ByteBuffer {
        let normalized = Self.normalized(document)
        let data = (try? JSONSerialization.data(withJSONObject: normalized, options: [.sortedKeys])) ?? Data("{}".utf8)
        return ByteBuffer(bytes: data)
    }

    /// Unsigned integers as `Int` (what JSONSerialization takes on every platform), all the way down.
    private static func normalized(_ value: Any) -> Any {
        switch value {
        case let flag as Bool: return flag
        case let number as Int: return number
        case let text as String: return text
        case let number as UInt64: return Int(clamping: number)
        case let number as UInt: return Int(clamping: number)
        case let object as [String: Any]: return object.mapValues(normalized)
        case let array as [Any]: return array.map(normalized)
        default: return value
        }
    }

    // MARK: - Members

    /// An integer member (JSON numbers arrive as NSNumber; doubles are truncated).
    package static func int(_ object: [String: Any], _ key: String) -> Int? {
        if let value = object[key] as? Int { return value }
        if let value = object[key] as? Double { return Int(value) }
        if let value = object[key] as? NSNumber { return value.intValue }
        return nil
    }

    /// An array of integers (nil when absent, or when any member is not a number).
    package static func ints(_ object: [String: Any], _ key: String) -> [Int]? {
        guard let values = object[key] as? [Any] else { return nil }
        let numbers = values.compactMap { int(["n": $0], "n") }
        return numbers.count == values.count ? numbers : nil
    }

    package static func bool(_ object: [String: Any], _ key: String) -> Bool? {
        object[key] as? Bool
    }

    package static func string(_ object: [String: Any], _ key: String) -> String? {
        object[key] as? String
    }

    package static func strings(_ object: [String: Any], _ key: String) -> [String]? {
        object[key] as? [String]
    }

    // MARK: - Time

    /// RFC 3339 in UTC with nanoseconds, as nats-server prints Go's `time.Time` (`0001-01-01T00:00:00Z`
    /// for "never", Go's zero time).
    package static func time(_ nanoseconds: UInt64) -> String {
        guard nanoseconds > 0 else { return "0001-01-01T00:00:00Z" }
        let seconds = Int64(nanoseconds / 1_000_000_000)
        let fraction = nanoseconds % 1_000_000_000
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secondOfDay = seconds - days * 86400
        let (year, month, day) = civil(fromDays: days)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var text = "\(year)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600)):"
        text += "\(two(secondOfDay / 60 % 60)):\(two(secondOfDay % 60))"
        if fraction > 0 {
            let digits = String(fraction)
            text += "." + String(repeating: "0", count: 9 - digits.count) + digits
        }
        return text + "Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` to ns since the Unix epoch; nil when malformed.
    package static func parseTime(_ text: String) -> UInt64? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20 else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for index in range {
                guard index < bytes.count, (48...57).contains(bytes[index]) else { return nil }
                value = value * 10 + Int64(bytes[index] - 48)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var index = 19
        var fraction: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, (48...57).contains(bytes[index]) {
                if digits < 9 { fraction = fraction * 10 + Int64(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            for _ in digits..<max(digits, 9) { fraction *= 10 }
        }
        var offset: Int64 = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            guard let hours = number((index + 1)..<(index + 3)), let minutes = number((index + 4)..<(index + 6)) else {
                return nil
            }
            offset = (hours * 3600 + minutes * 60) * (bytes[index] == UInt8(ascii: "+") ? 1 : -1)
        } else if index >= bytes.count || (bytes[index] != UInt8(ascii: "Z") && bytes[index] != UInt8(ascii: "z")) {
            return nil
        }
        let days = days(fromCivil: year, month, day)
        let seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(fraction)
    }

    /// Howard Hinnant's `civil_from_days`.
    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Howard Hinnant's `days_from_civil`.
    private static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
