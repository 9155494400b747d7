/// Record timestamps as PocketBase writes them: UTC, milliseconds, `2006-01-02 15:04:05.000Z`, so they sort
/// and compare as strings (filters compare `created >= "2026-01-01 00:00:00.000Z"` lexically, as SQLite
/// does in PocketBase).
package enum RecordTimestamp {
    /// `nanoseconds` since 1970-01-01 UTC, formatted.
    package static func format(_ nanoseconds: UInt64) -> String {
        let millis = nanoseconds / 1_000_000
        let seconds = millis / 1_000
        let days = Int64(seconds / 86_400)
        let secondOfDay = Int(seconds % 86_400)
        let (year, month, day) = civil(days)
        // Every change of a record formats two of these: written straight into one string, not built from
        // a dozen small ones (years outside 0...9999 take the general path below).
        if (0...9_999).contains(year) {
            return String(unsafeUninitializedCapacity: 24) { bytes in
                var at = 0
                func put(_ value: Int, _ width: Int, then separator: UInt8?) {
                    var rest = value
                    for index in stride(from: at + width - 1, through: at, by: -1) {
                        bytes[index] = UInt8(ascii: "0") + UInt8(rest % 10)
                        rest /= 10
                    }
                    at += width
                    if let separator {
                        bytes[at] = separator
                        at += 1
                    }
                }
                put(Int(year), 4, then: UInt8(ascii: "-"))
                put(month, 2, then: UInt8(ascii: "-"))
                put(day, 2, then: UInt8(ascii: " "))
                put(secondOfDay / 3_600, 2, then: UInt8(ascii: ":"))
                put(secondOfDay / 60 % 60, 2, then: UInt8(ascii: ":"))
                put(secondOfDay % 60, 2, then: UInt8(ascii: "."))
                put(Int(millis % 1_000), 3, then: UInt8(ascii: "Z"))
                return at
            }
        }
        var text = pad(Int(year), 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + " "
        text += pad(secondOfDay / 3_600, 2) + ":" + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        return text + "." + pad(Int(millis % 1_000), 3) + "Z"
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    static func civil(_ days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * monthPrime + 2) / 5 + 1)
        let month = Int(monthPrime < 10 ? monthPrime + 3 : monthPrime - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
