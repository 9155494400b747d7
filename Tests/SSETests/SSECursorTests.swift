import BusCore
import SSEWire
import Testing

/// The position codec behind `id:`, `Last-Event-ID` and poll cursors.
@Suite struct SSECursorTests {
    @Test func goldenText() {
        #expect(SSECursor([LogPosition(offset: 1234, epoch: "k3v9q2")]).text == "k3v9q2-ya")
        #expect(
            SSECursor([LogPosition(offset: 1, epoch: "a"), nil, LogPosition(offset: 36, epoch: "b")]).text
                == "a-1..b-10")
        #expect(SSECursor([nil]).text == "")
    }

    @Test func roundTrips() throws {
        let cursors = [
            SSECursor([LogPosition(offset: 0, epoch: "0")]),
            SSECursor([LogPosition(offset: UInt64.max, epoch: "zzzzzzzzzz"), nil]),
            SSECursor([nil, nil, LogPosition(offset: 77, epoch: "q1")]),
        ]
        for cursor in cursors {
            #expect(try SSECursor.parse(cursor.text, channels: cursor.entries.count) == cursor)
        }
    }

    @Test(arguments: [
        ("", 2),  // one (empty) entry for two channels
        ("a-1.b-2", 1),  // two entries for one channel
        ("a1", 1),  // no dash
        ("-1", 1),  // no epoch
        ("a-", 1),  // no offset
        ("A-1", 1),  // upper case is not base 36 as we write it
        ("a-1 ", 1),  // trailing space
        ("a-zzzzzzzzzzzzz", 1),  // overflows UInt64
        ("a-1\n", 1),
        ("abcdefghijklmnopq-1", 1),  // epoch too long
    ])
    func refusesMalformed(text: String, channels: Int) {
        #expect(throws: SSERequestError.self) { try SSECursor.parse(text, channels: channels) }
    }

    @Test func refusesOverlongInput() {
        var limits = SSELimits()
        limits.maxCursorBytes = 8
        #expect(throws: SSERequestError.self) { try SSECursor.parse("abcdef-123", channels: 1, limits: limits) }
    }

    @Test func noChannelsNoEntries() throws {
        #expect(try SSECursor.parse("", channels: 0) == SSECursor([]))
    }
}
