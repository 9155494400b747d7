/// PocketBase's date macros (`tools/search/identifier_macros.go`), all in UTC and computed from the
/// request's injected `now`. Dates are texts in PocketBase's format, `2006-01-02 15:04:05.000Z`, which
/// compare correctly as texts.
package enum RecordFilterMacro: String, Sendable, Hashable, CaseIterable {
    case now = "@now"
    case yesterday = "@yesterday"
    case tomorrow = "@tomorrow"
    case second = "@second"
    case minute = "@minute"
    case hour = "@hour"
    case day = "@day"
    case month = "@month"
    /// 0 for Sunday, as Go's `time.Weekday`.
    case weekday = "@weekday"
    case year = "@year"
    case todayStart = "@todayStart"
    case todayEnd = "@todayEnd"
    case monthStart = "@monthStart"
    case monthEnd = "@monthEnd"
    case yearStart = "@yearStart"
    case yearEnd = "@yearEnd"

    private static let millisecondsPerDay: Int64 = 86_400_000
    private static let lastMillisecondOfDay: Int64 = millisecondsPerDay - 1

    /// The macro's value at `now` (nanoseconds since the Unix epoch).
    package func value(now: Int64) -> RecordFilterScalar {
        let milliseconds = now.dividedRoundingDown(by: 1_000_000)
        let days = milliseconds.dividedRoundingDown(by: Self.millisecondsPerDay)
        let timeOfDay = milliseconds - days * Self.millisecondsPerDay
        let date = CivilDate(daysSinceEpoch: days)
        switch self {
        case .now: return .text(Self.format(milliseconds))
        case .yesterday: return .text(Self.format(milliseconds - Self.millisecondsPerDay))
        case .tomorrow: return .text(Self.format(milliseconds + Self.millisecondsPerDay))
        case .second: return .number(Double(timeOfDay / 1_000 % 60))
        case .minute: return .number(Double(timeOfDay / 60_000 % 60))
        case .hour: return .number(Double(timeOfDay / 3_600_000))
        case .day: return .number(Double(date.day))
        case .month: return .number(Double(date.month))
        case .weekday: return .number(Double((days + 4).modulo(7)))  // 1970-01-01 was a Thursday
        case .year: return .number(Double(date.year))
        case .todayStart: return .text(Self.format(days * Self.millisecondsPerDay))
        case .todayEnd: return .text(Self.format(days * Self.millisecondsPerDay + Self.lastMillisecondOfDay))
        case .monthStart: return .text(Self.format(dayStart(date.year, date.month, 1)))
        case .monthEnd:
            let next = date.month == 12 ? (date.year + 1, Int64(1)) : (date.year, date.month + 1)
            return .text(Self.format(dayStart(next.0, next.1, 1) - 1))
        case .yearStart: return .text(Self.format(dayStart(date.year, 1, 1)))
        case .yearEnd: return .text(Self.format(dayStart(date.year + 1, 1, 1) - 1))
        }
    }

    private func dayStart(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        CivilDate(year: year, month: month, day: day).daysSinceEpoch * Self.millisecondsPerDay
    }

    /// `2006-01-02 15:04:05.000Z`, PocketBase's `types.DateTime` text.
    static func format(_ milliseconds: Int64) -> String {
        let days = milliseconds.dividedRoundingDown(by: millisecondsPerDay)
        let timeOfDay = milliseconds - days * millisecondsPerDay
        let date = CivilDate(daysSinceEpoch: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let time = [timeOfDay / 3_600_000, timeOfDay / 60_000 % 60, timeOfDay / 1_000 % 60].map { pad($0, 2) }
        return "\(pad(date.year, 4))-\(pad(date.month, 2))-\(pad(date.day, 2)) "
            + time.joined(separator: ":") + ".\(pad(timeOfDay % 1_000, 3))Z"
    }
}

/// A proleptic Gregorian date, converted to and from days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days` / `days_from_civil`), so the macros need no Foundation.
private struct CivilDate {
    var year: Int64
    var month: Int64
    var day: Int64

    init(year: Int64, month: Int64, day: Int64) {
        self.year = year
        self.month = month
        self.day = day
    }

    init(daysSinceEpoch: Int64) {
        let shifted = daysSinceEpoch + 719_468
        let era = shifted.dividedRoundingDown(by: 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }

    var daysSinceEpoch: Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = shiftedYear.dividedRoundingDown(by: 400)
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

extension Int64 {
    fileprivate func dividedRoundingDown(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    fileprivate func modulo(_ divisor: Int64) -> Int64 {
        self - dividedRoundingDown(by: divisor) * divisor
    }
}
