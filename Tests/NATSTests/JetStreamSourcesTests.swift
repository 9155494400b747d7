import BusCore
import Foundation
import NIOCore
import Testing

@testable import BusRuntime
@testable import NATSFrontend

/// Mirrors and sources in a stream's configuration (nats-server's checks and JSON), the
/// `Nats-Stream-Source` header, and the consumer state's pacing for `replay_policy: original`.
@Suite struct JetStreamSourcesTests {
    private func config(_ text: String) throws(JetStreamAPIError) -> JetStreamStreamConfig {
        let json: [String: Any]
        do { json = try JetStreamJSON.object(ByteBuffer(string: text)) } catch { throw error }
        return try JetStreamStreamConfig(json: json, nameInSubject: "S")
    }

    private func code(_ text: String) -> Int? {
        do {
            _ = try config(text)
            return nil
        } catch {
            return error.errCode
        }
    }

    @Test func mirrorAndSourcesAreReadAndShownAsNatsServerShowsThem() throws {
        let mirror = try config(#"{"name":"S","mirror":{"name":"O","opt_start_seq":5,"filter_subject":"o.a"}}"#)
        #expect(mirror.subjects.isEmpty)
        #expect(mirror.mirror == JetStreamStreamSource(name: "O", optStartSequence: 5, filterSubject: "o.a"))
        #expect(try mirror.streamConfiguration().filters.isEmpty)
        let json = mirror.json
        #expect(json["subjects"] == nil && json["sources"] == nil)
        #expect((json["mirror"] as? [String: Any])?["opt_start_seq"] as? UInt64 == 5)

        let time = "2026-12-06T03:30:00.123456789Z"
        let sourced = try config(#"{"name":"S","sources":[{"name":"A","opt_start_time":"\#(time)"},{"name":"B"}]}"#)
        #expect(sourced.subjects.isEmpty && sourced.sources.map(\.name) == ["A", "B"])
        #expect(sourced.sources[0].optStartTime == JetStreamJSON.parseTime(time))
        // The start time is shown back as it was given.
        #expect(((sourced.json["sources"] as? [[String: Any]])?[0]["opt_start_time"] as? String) == time)
        // With neither, a stream still captures its name.
        #expect(try config(#"{"name":"S"}"#).subjects == ["S"])
    }

    @Test func refusalsHaveNatsServerCodes() {
        #expect(code(#"{"name":"S","subjects":["a"],"mirror":{"name":"O"}}"#) == 10034)
        #expect(code(#"{"name":"S","mirror":{"name":"O"},"sources":[{"name":"A"}]}"#) == 10031)
        #expect(
            code(#"{"name":"S","mirror":{"name":"O","opt_start_seq":2,"opt_start_time":"2026-12-06T00:00:00Z"}}"#)
                == 10032)
        #expect(code(#"{"name":"S","mirror":{"name":"O","external":{"api":"$JS.x.API"}}}"#) == 10052)
        #expect(code(#"{"name":"S","sources":[{"name":"A"},{"name":"A"}]}"#) == 10052)
        #expect(code(#"{"name":"S","sources":[{"name":"S"}]}"#) == 10052)
        #expect(code(#"{"name":"S","sources":[{"name":"a.b"}]}"#) == 10052)
        #expect(code(#"{"name":"S","mirror_direct":true}"#) == 10052)
        #expect(code(#"{"name":"S","mirror":"O"}"#) == 10025)
        #expect(code(#"{"name":"S","sources":["A"]}"#) == 10025)
        #expect(code(#"{"name":"S","sources":{"name":"A"}}"#) == 10025)
        #expect(code(#"{"name":"S","mirror":null,"sources":null}"#) == nil)
        // nats-server 2.10's subject transforms are not built: refused, not ignored.
        #expect(
            code(#"{"name":"S","sources":[{"name":"A","subject_transforms":[{"src":">","dest":"x.>"}]}]}"#) == 10052)
        #expect(code(#"{"name":"S","subject_transform":{"src":">","dest":"x.>"}}"#) == 10052)
        #expect(code(#"{"name":"S","mirror":{"name":"O"},"mirror_direct":true}"#) == nil)
    }

    @Test func sourceHeaderNamesTheOriginAndSequence() {
        let source = JetStreamStreamSource(name: "ORDERS")
        #expect(source.headerValue(sequence: 42) == "ORDERS 42")
        #expect(JetStreamStreamSource.origin(ofHeader: "ORDERS 42")! == ("ORDERS", 42))
        // nats-server's older form: the origin's ack reply.
        #expect(JetStreamStreamSource.origin(ofHeader: "$JS.ACK.ORDERS.c.1.17.3.1700000000.0")! == ("ORDERS", 17))
        #expect(JetStreamStreamSource.origin(ofHeader: "nonsense") == nil)
    }

    private func records(times: [UInt64]) -> [StreamReadRecord] {
        times.enumerated().map { index, time in
            StreamReadRecord(
                partition: 0, offset: UInt64(index + 1), time: time,
                record: StreamRecord(
                    message: BusMessage(topic: Topic(trusted: "x"), payload: ByteBuffer(), timestamp: time), key: nil))
        }
    }

    @Test func replayOriginalHoldsEachRecordForItsGapThenGoesAsTheyCome() throws {
        let consumerConfig = try JetStreamConsumerConfig(
            json: try JetStreamJSON.object(ByteBuffer(string: #"{"replay_policy":"original","ack_policy":"none"}"#)),
            name: "c")
        #expect(consumerConfig.replayPolicy == "original")
        let second: UInt64 = 1_000_000_000
        // Stored at 10 s, 10.5 s, 10.5005 s (a gap under a millisecond is not waited for), 12 s.
        let log = records(times: [
            10 * second, 10 * second + second / 2, 10 * second + second / 2 + 500_000, 12 * second,
        ])
        let read = { (from: UInt64, limit: Int) in Array(log.filter { $0.offset >= from }.prefix(limit)) }
        var state = JetStreamConsumerState(config: consumerConfig, filters: [], cursor: 1)
        state.replayThrough = 3
        let start: UInt64 = 100 * second
        #expect(state.next(limit: 10, now: start, read: read).map(\.streamSequence) == [1])
        #expect(state.replayDue == start + second / 2)
        #expect(state.next(limit: 10, now: start + second / 4, read: read).isEmpty)
        // 3 follows 2 within a millisecond; 4 came after the consumer was made (past `replayThrough`): it
        // goes as it comes, however long after 3 it was stored.
        #expect(state.next(limit: 10, now: start + second / 2, read: read).map(\.streamSequence) == [2, 3, 4])
        #expect(state.replayThrough == 0 && state.replayDue == nil)
    }
}
