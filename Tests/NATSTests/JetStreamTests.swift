import BusCore
import Foundation
import NIOCore
import Testing

@testable import BusRuntime
@testable import NATSFrontend
@testable import NATSWire

/// JetStream's pure parts: the stream and consumer configurations and their mapping onto the bus's
/// streams, the JSON shapes and error codes, times, the consumer state (deliveries, acks, redelivery).
@Suite struct JetStreamTests {
    private func object(_ text: String) throws -> [String: Any] {
        try JetStreamJSON.object(ByteBuffer(string: text))
    }

    private func decoded(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
    }

    @Test func streamConfigMapsOntoAStreamConfiguration() throws {
        let config = try JetStreamStreamConfig(
            json: try object(
                #"{"name":"ORDERS","subjects":["orders.*","orders.eu.>"],"max_msgs":10,"max_bytes":-1,"#
                    + #""max_age":5000000000,"max_msg_size":0,"max_msgs_per_subject":2,"discard":"new","#
                    + #""storage":"memory","duplicate_window":0,"num_replicas":1}"#),
            nameInSubject: "ORDERS")
        let stream = try config.streamConfiguration()
        #expect(stream.name == "ORDERS")
        #expect(stream.filters.map(\.text) == ["orders/+", "orders/eu/#"])
        #expect(stream.partitions == 1)
        #expect(stream.storage == .memory)
        #expect(stream.limits.maxMessages == 10)
        #expect(stream.limits.maxBytes == nil)
        #expect(stream.limits.maxMessageSize == nil)
        #expect(stream.limits.maxAgeNanoseconds == 5_000_000_000)
        #expect(stream.limits.maxMessagesPerSubject == 2)
        #expect(stream.limits.discard == .new)
        // 0 is nats-server's default window (two minutes), never above max_age.
        #expect(stream.limits.duplicateWindowNanoseconds == 5_000_000_000)
        let back = JetStreamStreamConfig(stream)
        #expect(back.subjects == ["orders.*", "orders.eu.>"])
        #expect(back.json["max_bytes"] as? Int == -1)
        #expect(back.json["storage"] as? String == "memory")
    }

    /// The byte split of a `$JS` subject gives what `split(separator:omittingEmptySubsequences: false)` does,
    /// empty tokens and non-ASCII ones included.
    @Test func subjectTokensAreSplitAsByCharacters() {
        for subject in [
            "$JS.ACK.s.c.1.7.7.1700000000000000000.0", "$JS.API.STREAM.INFO.orders", "$JS.", "$JS..x.", "$JS",
            "$JS.FC.s.c.é.ü", "",
        ] {
            let expected = subject.split(separator: ".", omittingEmptySubsequences: false)
            #expect(NATSConnectionHandler.tokens(of: subject) == expected, "\(subject)")
        }
    }

    @Test func aStreamWithoutSubjectsCapturesItsName() throws {
        let config = try JetStreamStreamConfig(json: [:], nameInSubject: "jobs")
        #expect(config.subjects == ["jobs"])
        #expect(config.duplicateWindow == JetStreamStreamConfig.defaultDuplicateWindow)
    }

    @Test func streamConfigsRefusedWithNatsServerCodes() throws {
        func refusal(_ json: String, name: String = "S") -> Int? {
            do {
                _ = try JetStreamStreamConfig(json: try object(json), nameInSubject: name)
                return nil
            } catch let error as JetStreamAPIError {
                return error.errCode
            } catch {
                return -1
            }
        }
        #expect(refusal(#"{"name":"T"}"#) == 10056)
        #expect(refusal(#"{"num_replicas":3}"#) == 10074)
        #expect(refusal(#"{"retention":"workqueue"}"#) == nil && refusal(#"{"retention":"interest"}"#) == nil)
        #expect(refusal(#"{"retention":"fifo"}"#) == 10052)
        #expect(refusal(#"{"mirror":{"name":"X"}}"#) == nil)
        #expect(refusal(#"{"mirror":{"name":"X","external":{"api":"$JS.d.API"}}}"#) == 10052)
        #expect(refusal(#"{"storage":"disk"}"#) == 10052)
        #expect(refusal("{}", name: "a.b") == 10052)
        #expect(refusal("{not json") == 10025)
    }

    @Test func subjectsOverlapAsNatsServerJudges() throws {
        func filter(_ subject: String) throws -> TopicFilter {
            try TopicFilter(NATSSubjectMapping.filterText(forSubject: subject))
        }
        #expect(JetStreamStreamConfig.overlap(try filter("a.>"), try filter("a.b.c")))
        #expect(JetStreamStreamConfig.overlap(try filter("a.*.c"), try filter("a.b.*")))
        #expect(!JetStreamStreamConfig.overlap(try filter("a.b"), try filter("a.c")))
        #expect(!JetStreamStreamConfig.overlap(try filter("a.*"), try filter("a.b.c")))
        #expect(JetStreamStreamConfig.subject(for: try filter("a.*.>")) == "a.*.>")
    }

    /// `backoff` replaces the ack wait per delivery (the last step repeats), and every step must be
    /// reachable before `max_deliver` (10116); the state arms each delivery with its step.
    @Test func backoffSetsEachDeliverysAckWait() throws {
        let config = try JetStreamConsumerConfig(
            json: try object(#"{"ack_wait":99000000000,"max_deliver":4,"backoff":[10,20]}"#), name: "b")
        #expect(config.ackWait == 10 && config.backoff == [10, 20])
        #expect([1, 2, 3].map(config.ackWait(forDelivery:)) == [10, 20, 20])
        #expect(config.json["backoff"] as? [UInt64] == [10, 20])
        func code(_ json: String) -> Int? {
            do {
                _ = try JetStreamConsumerConfig(json: try object(json), name: "x")
                return nil
            } catch let error as JetStreamAPIError {
                return error.errCode
            } catch {
                return -1
            }
        }
        #expect(code(#"{"max_deliver":2,"backoff":[10,20]}"#) == 10116)
        #expect(code(#"{"backoff":[10,-1]}"#) == 10094)
        #expect(code(#"{"replay_policy":"original"}"#) == nil)
        #expect(code(#"{"replay_policy":"slow"}"#) == 10094)
        #expect(code(#"{"replay_policy":"instant","backoff":[]}"#) == nil)

        let log = records(["a"])
        let read = { (from: UInt64, limit: Int) in Array(log.filter { $0.offset >= from }.prefix(limit)) }
        var state = JetStreamConsumerState(config: config, filters: [], cursor: 1)
        #expect(state.next(limit: 1, now: 0, read: read).count == 1)
        #expect(state.nextDeadline == 10)
        #expect(state.next(limit: 1, now: 10, read: read).map(\.deliveries) == [2])
        #expect(state.nextDeadline == 30)
        state.acknowledge(1, .inProgress, now: 15)
        #expect(state.nextDeadline == 35)
        #expect(state.next(limit: 1, now: 35, read: read).map(\.deliveries) == [3])
        #expect(state.next(limit: 1, now: 55, read: read).map(\.deliveries) == [4])
        #expect(state.takeExhausted().isEmpty)
        #expect(state.next(limit: 1, now: 75, read: read).isEmpty)
        let exhausted = state.takeExhausted()
        #expect(exhausted.map(\.sequence) == [1] && exhausted.map(\.deliveries) == [4])
        #expect(state.takeExhausted().isEmpty)
    }

    /// `republish`'s subject transform: `*` in order or by `{{wildcard(n)}}`, `>` carries the rest; a
    /// destination the stream captures is a cycle.
    @Test func republishMapsSubjectsAndRefusesCycles() throws {
        let all = try JetStreamRepublish(json: ["dest": "bar.>"], streamSubjects: ["orders.>"])
        #expect(all.source == ">" && all.destination(for: "orders.eu.1") == "bar.orders.eu.1")
        let parts = try JetStreamRepublish(
            json: ["src": "orders.*.*", "dest": "by.{{wildcard(2)}}.*"], streamSubjects: ["orders.>"])
        #expect(parts.destination(for: "orders.eu.7") == "by.7.eu")
        #expect(parts.destination(for: "orders.eu") == nil)
        #expect(parts.destination(for: "orders.eu.7.x") == nil)
        #expect(parts.destination(for: "other.eu.7") == nil)
        func code(_ json: [String: Any]) -> Int? {
            do {
                _ = try JetStreamRepublish(json: json, streamSubjects: ["orders.>"])
                return nil
            } catch {
                return error.errCode
            }
        }
        #expect(code(["dest": "orders.copy.>"]) == 10052)  // a cycle
        #expect(code(["src": "orders.*", "dest": "x.>"]) == 10052)  // no '>' to carry
        #expect(code(["src": "orders.*", "dest": "x.*.*"]) == 10052)  // more wildcards than the source
        #expect(code(["src": "invoices.>", "dest": "x.>"]) == 10052)  // not the stream's
        #expect(code(["src": ">"]) == 10052)  // no destination
    }

    /// `max_bytes`: a record that does not fit stops the round and stays (the cursor does not pass it).
    @Test func maxBytesStopsAtTheFirstRecordThatDoesNotFit() {
        let log = records(["a", "b", "a", "a"])
        let read = { (from: UInt64, limit: Int) in Array(log.filter { $0.offset >= from }.prefix(limit)) }
        var state = JetStreamConsumerState(
            config: JetStreamConsumerConfig(name: "c"), filters: [try! TopicFilter("a")], cursor: 1)
        let first = state.next(limit: 10, now: 0, maxBytes: 25, size: { _ in 10 }, read: read)
        #expect(first.map(\.streamSequence) == [1, 3])  // b skipped by the filter, 4 does not fit
        #expect(state.stoppedByBytes && state.cursor == 4)
        let rest = state.next(limit: 10, now: 0, read: read)
        #expect(rest.map(\.streamSequence) == [4] && !state.stoppedByBytes)
    }

    @Test func consumerConfigDefaultsAndRefusals() throws {
        let config = try JetStreamConsumerConfig(
            json: try object(#"{"durable_name":"w","ack_wait":2000000000,"max_deliver":-1,"filter_subject":"a.b"}"#),
            name: "w")
        #expect(config.ackPolicy == .explicit)
        #expect(config.deliverPolicy == .all)
        #expect(config.ackWait == 2_000_000_000)
        #expect(config.maxAckPending == 1000)
        #expect(config.json["filter_subject"] as? String == "a.b")
        #expect(throws: JetStreamAPIError.self) {
            try JetStreamConsumerConfig(json: try object(#"{"deliver_policy":"by_start_sequence"}"#), name: "x")
        }
        let push = try JetStreamConsumerConfig(
            json: try object(#"{"deliver_subject":"push.here","deliver_group":"g"}"#), name: "x")
        #expect(push.deliverSubject == "push.here" && push.deliverGroup == "g")
        #expect(push.json["deliver_subject"] as? String == "push.here")
        #expect(throws: JetStreamAPIError.self) {
            try JetStreamConsumerConfig(json: try object(#"{"deliver_subject":"push.*"}"#), name: "x")
        }
        let none = try JetStreamConsumerConfig(json: try object(#"{"ack_policy":"none"}"#), name: "n")
        #expect(none.maxAckPending == -1)
        // Ephemeral consumers go after 5 s idle (or their inactive_threshold); durable ones stay.
        #expect(none.removalThreshold == JetStreamConsumerConfig.defaultInactiveThreshold)
        #expect(config.removalThreshold == nil)
        let brief = try JetStreamConsumerConfig(json: try object(#"{"inactive_threshold":1000}"#), name: "b")
        #expect(brief.removalThreshold == 1000)
        #expect(brief.json["inactive_threshold"] as? UInt64 == 1000)
    }

    @Test func timesAreRFC3339WithNanoseconds() {
        #expect(JetStreamJSON.time(0) == "0001-01-01T00:00:00Z")
        #expect(JetStreamJSON.time(1_796_342_400_000_000_123) == "2026-12-04T00:00:00.000000123Z")
        #expect(JetStreamJSON.parseTime("2026-12-04T00:00:00.000000123Z") == 1_796_342_400_000_000_123)
        #expect(JetStreamJSON.parseTime("2026-12-04T01:00:00+01:00") == 1_796_342_400_000_000_000)
        #expect(JetStreamJSON.parseTime("yesterday") == nil)
    }

    @Test func responsesAndErrorsHaveNatsServerShapes() throws {
        let error = try decoded(JetStreamJSON.error("stream_info_response", .streamNotFound))
        #expect(error["type"] as? String == "io.nats.jetstream.api.v1.stream_info_response")
        let body = try #require(error["error"] as? [String: Any])
        #expect(body["code"] as? Int == 404)
        #expect(body["err_code"] as? Int == 10059)
        #expect(body["description"] as? String == "stream not found")
        let stored = StreamAppendAck(stream: "S", partition: 0, offset: 7, epoch: "e", outcome: .stored)
        let ack = try decoded(try #require(JetStreamService.pubAck([stored])))
        #expect(ack["stream"] as? String == "S" && ack["seq"] as? Int == 7 && ack["duplicate"] == nil)
        var duplicate = stored
        duplicate.outcome = .duplicate
        let duplicateAck = try #require(JetStreamService.pubAck([duplicate]))
        #expect(try decoded(duplicateAck)["duplicate"] as? Bool == true)
        var full = stored
        full.outcome = .refused(StreamAppendRefusal.maxMessages.rawValue)
        let fullAck = try #require(JetStreamService.pubAck([full]))
        let refused = try #require(try decoded(fullAck)["error"] as? [String: Any])
        #expect(refused["err_code"] as? Int == 10077)
        #expect(refused["description"] as? String == "maximum messages exceeded")
        #expect(JetStreamService.pubAck([]) == nil)
    }

    @Test func acknowledgementPayloads() {
        typealias Ack = JetStreamConsumerState.Acknowledgement
        #expect(Ack(payload: "") == .ack)
        #expect(Ack(payload: "+ACK") == .ack)
        #expect(Ack(payload: "+NXT {\"batch\":1}") == .ack)
        #expect(Ack(payload: "-NAK") == .nak(delay: 0))
        #expect(Ack(payload: "-NAK {\"delay\": 5000}") == .nak(delay: 5000))
        #expect(Ack(payload: "+WPI") == .inProgress)
        #expect(Ack(payload: "+TERM reason") == .terminate)
        #expect(Ack(payload: "what") == nil)
    }

    private func records(_ subjects: [String]) -> [StreamReadRecord] {
        subjects.enumerated().map { index, subject in
            StreamReadRecord(
                partition: 0, offset: UInt64(index + 1), time: UInt64(index + 1),
                record: StreamRecord(
                    message: BusMessage(
                        topic: Topic(trusted: subject), payload: ByteBuffer(string: "\(index + 1)"),
                        timestamp: UInt64(index + 1)),
                    key: nil))
        }
    }

    @Test func consumerStateDeliversAcksAndRedelivers() throws {
        let log = records(["a/x", "a/y", "b/x", "a/z"])
        let read = { (from: UInt64, limit: Int) in Array(log.filter { $0.offset >= from }.prefix(limit)) }
        var config = JetStreamConsumerConfig(name: "c")
        config.ackWait = 10
        config.maxDeliver = 2
        var state = JetStreamConsumerState(
            config: config, filters: [try TopicFilter("a/#")], cursor: 1)
        let first = state.next(limit: 2, now: 100, read: read)
        #expect(first.map(\.streamSequence) == [1, 2])
        #expect(first.map(\.consumerSequence) == [1, 2])
        state.acknowledge(1, .ack, now: 101)
        #expect(state.ackFloorStreamSequence == 1)
        // The filter skips b/x.
        let second = state.next(limit: 5, now: 102, read: read)
        #expect(second.map(\.streamSequence) == [4])
        #expect(state.pending.count == 2)
        // Past the ack wait, 2 and 4 come again (delivered twice), then never (max_deliver 2).
        let again = state.next(limit: 5, now: 200, read: read)
        #expect(again.map(\.streamSequence) == [2, 4])
        #expect(again.map(\.deliveries) == [2, 2])
        #expect(state.redeliveredCount == 2)
        #expect(state.next(limit: 5, now: 300, read: read).isEmpty)
        #expect(state.pending.isEmpty)
        #expect(state.ackFloorStreamSequence == 4)
        // A NAK comes back at once; +TERM never.
        var nak = JetStreamConsumerState(config: config, filters: [], cursor: 3)
        #expect(nak.next(limit: 1, now: 0, read: read).map(\.streamSequence) == [3])
        nak.acknowledge(3, .nak(delay: 0), now: 1)
        #expect(nak.next(limit: 1, now: 1, read: read).map(\.streamSequence) == [3])
        nak.acknowledge(3, .terminate, now: 2)
        #expect(nak.next(limit: 1, now: 100, read: read).map(\.streamSequence) == [4])
    }

    @Test func ackAllAcknowledgesEverythingBelow() {
        let log = records(["a", "a", "a"])
        let read = { (from: UInt64, limit: Int) in Array(log.filter { $0.offset >= from }.prefix(limit)) }
        var config = JetStreamConsumerConfig(name: "c")
        config.ackPolicy = .all
        var state = JetStreamConsumerState(config: config, filters: [], cursor: 1)
        #expect(state.next(limit: 3, now: 0, read: read).count == 3)
        #expect(state.acknowledge(2, .ack, now: 1) == [1, 2])
        #expect(Array(state.pending.keys) == [3])
        #expect(state.ackFloorStreamSequence == 2)
    }

    /// What retention may let go: the sequences an acknowledgement ends, and whether a consumer is done
    /// with a sequence (passed, not pending, not among its last-per-subject firsts).
    @Test func acknowledgementsSayWhatTheConsumerIsDoneWith() {
        let log = records(["a", "a", "a", "a"])
        let read = { (from: UInt64, limit: Int) in Array(log.filter { $0.offset >= from }.prefix(limit)) }
        var state = JetStreamConsumerState(config: JetStreamConsumerConfig(name: "c"), filters: [], cursor: 1)
        #expect(!state.isDone(with: 1))
        #expect(state.next(limit: 3, now: 0, read: read).count == 3)
        #expect(state.acknowledge(2, .ack, now: 1) == [2])
        #expect(state.acknowledge(2, .ack, now: 1).isEmpty)  // once
        #expect(state.acknowledge(1, .nak(delay: 0), now: 1).isEmpty)
        #expect(state.acknowledge(3, .inProgress, now: 1).isEmpty)
        #expect(state.acknowledge(3, .terminate, now: 1) == [3])
        #expect(state.isDone(with: 2) && state.isDone(with: 3))
        #expect(!state.isDone(with: 1) && !state.isDone(with: 4))
        let later = JetStreamConsumerState(config: JetStreamConsumerConfig(name: "n"), filters: [], cursor: 4)
        #expect(later.isDone(with: 3))  // started after it: never wanted it
    }

    @Test func maxAckPendingHoldsNewDeliveries() {
        let log = records(["a", "a", "a"])
        let read = { (from: UInt64, limit: Int) in Array(log.filter { $0.offset >= from }.prefix(limit)) }
        var config = JetStreamConsumerConfig(name: "c")
        config.maxAckPending = 1
        var state = JetStreamConsumerState(config: config, filters: [], cursor: 1)
        #expect(state.next(limit: 3, now: 0, read: read).map(\.streamSequence) == [1])
        #expect(state.next(limit: 3, now: 0, read: read).isEmpty)
        state.acknowledge(1, .ack, now: 0)
        #expect(state.next(limit: 3, now: 0, read: read).map(\.streamSequence) == [2])
    }
}
