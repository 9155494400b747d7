import BusCore
import Foundation
import NIOCore
import Testing

@testable import BusRuntime
@testable import NATSFrontend

/// Mirrors and sources in a stream's configuration (nats-server's checks and JSON), the
/// `Nats-Stream-Source` header.
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
}
