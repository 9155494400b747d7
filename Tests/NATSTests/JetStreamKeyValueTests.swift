import BusCore
import Foundation
import NIOCore
import Testing

@testable import BusRuntime
@testable import NATSFrontend
@testable import NATSWire

/// The pure parts key-value buckets need: the config fields nats.py's `create_key_value` sends, the
/// `Nats-Rollup` header, `last_per_subject` starts and a push consumer's flow control and heartbeats.
@Suite struct JetStreamKeyValueTests {
    private func object(_ text: String) throws -> [String: Any] {
        try JetStreamJSON.object(ByteBuffer(string: text))
    }

    @Test func bucketStreamConfigIsAccepted() throws {
        let config = try JetStreamStreamConfig(
            json: try object(
                #"{"name":"KV_b","subjects":["$KV.b.>"],"allow_direct":true,"allow_rollup_hdrs":true,"#
                    + #""allow_msg_ttl":true,"deny_delete":true,"discard":"new","max_consumers":-1,"#
                    + #""max_msgs":-1,"max_msgs_per_subject":5,"duplicate_window":120000000000}"#),
            nameInSubject: "KV_b")
        #expect(config.allowRollup && config.allowDirect && config.denyDelete && config.allowMessageTTL)
        #expect(config.maxMessagesPerSubject == 5)
        #expect(config.json["allow_rollup_hdrs"] as? Bool == true)
        #expect(try config.streamConfiguration().filters.map(\.text) == ["$KV/b/#"])
        // What is not built is refused, as nats-server refuses what it cannot do.
        #expect(throws: JetStreamAPIError.self) {
            try JetStreamStreamConfig(
                json: try object(#"{"name":"KV_c","subject_delete_marker_ttl":1000000000}"#), nameInSubject: "KV_c")
        }
        let republished = try JetStreamStreamConfig(
            json: try object(#"{"name":"KV_c","republish":{"src":">","dest":"x.>"}}"#), nameInSubject: "KV_c")
        #expect(republished.republish?.destination == "x.>")
    }

    /// nats-server refuses `mirror_direct` on a stream that mirrors nothing (10052, its words); nats.py's
    /// KV tests check the code and the description.
    @Test func mirrorDirectWithoutMirrorIsRefused() throws {
        #expect(throws: JetStreamAPIError.invalidStreamConfig("stream has no mirror but does have mirror direct")) {
            try JetStreamStreamConfig(
                json: try object(#"{"name":"m","subjects":["m.>"],"mirror_direct":true}"#), nameInSubject: "m")
        }
        let plain = try JetStreamStreamConfig(
            json: try object(#"{"name":"m","subjects":["m.>"],"mirror_direct":false}"#), nameInSubject: "m")
        #expect(plain.name == "m")
    }

    @Test func rollupHeaderValues() throws {
        #expect(try JetStreamRollup(value: "sub") == .subject)
        #expect(try JetStreamRollup(value: "all") == .all)
        #expect(throws: JetStreamAPIError.rollupFailed("rollup value invalid: \"some\"")) {
            try JetStreamRollup(value: "some")
        }
    }

    @Test func lastPerSubjectIsEachSubjectsLastInOrder() throws {
        let records: [(offset: UInt64, topic: Topic)] = [
            (1, Topic(trusted: "$KV/b/a")), (2, Topic(trusted: "$KV/b/b")), (3, Topic(trusted: "$KV/b/a")),
            (4, Topic(trusted: "other/x")), (5, Topic(trusted: "$KV/b/c")), (6, Topic(trusted: "$KV/b/b")),
        ]
        #expect(JetStreamConsumerState.lastPerSubject(records, filters: [try TopicFilter("$KV/b/#")]) == [3, 5, 6])
        #expect(JetStreamConsumerState.lastPerSubject(records, filters: [try TopicFilter("$KV/b/a")]) == [3])
        #expect(JetStreamConsumerState.lastPerSubject(records, filters: []) == [3, 4, 5, 6])
    }

    @Test func lastPerSubjectConsumerIsAcceptedAndDeliversItsListFirst() throws {
        let config = try JetStreamConsumerConfig(
            json: try object(
                #"{"deliver_policy":"last_per_subject","deliver_subject":"_INBOX.x","flow_control":true,"#
                    + #""idle_heartbeat":5000000000,"headers_only":true,"ack_policy":"none"}"#),
            name: "watch")
        #expect(config.deliverPolicy == .lastPerSubject)
        #expect(config.flowControl && config.headersOnly && config.idleHeartbeat == 5_000_000_000)
        var state = JetStreamConsumerState(config: config, filters: [], cursor: 7, lastPerSubject: [5, 2])
        let stored = (1...8).map { offset in
            StreamReadRecord(
                partition: 0, offset: UInt64(offset), time: 1,
                record: StreamRecord(
                    message: BusMessage(topic: Topic(trusted: "k/\(offset)"), payload: ByteBuffer(), timestamp: 1),
                    key: nil))
        }
        let read: (UInt64, Int) -> [StreamReadRecord] = { from, limit in
            Array(stored.filter { $0.offset >= from }.prefix(limit))
        }
        let first = state.next(limit: 2, now: 10, read: read)
        #expect(first.map(\.streamSequence) == [2, 5])
        #expect(first.map(\.consumerSequence) == [1, 2])
        #expect(state.lastPerSubject.isEmpty)
        #expect(state.next(limit: 10, now: 11, read: read).map(\.streamSequence) == [7, 8])
    }

    @Test func pullConsumerRefusesFlowControlAndHeartbeats() throws {
        #expect(throws: JetStreamAPIError.self) {
            try JetStreamConsumerConfig(json: try object(#"{"flow_control":true}"#), name: "p")
        }
        #expect(throws: JetStreamAPIError.self) {
            try JetStreamConsumerConfig(json: try object(#"{"idle_heartbeat":1000}"#), name: "p")
        }
    }

    /// nats-server refuses push flow control without idle heartbeats (10108): a stall is only reported
    /// through heartbeats.
    @Test func pushFlowControlNeedsHeartbeats() throws {
        #expect(
            throws: JetStreamAPIError(
                code: 400, errCode: 10108, description: "consumer with flow control also needs heartbeats")
        ) {
            try JetStreamConsumerConfig(
                json: try object(#"{"deliver_subject":"_INBOX.fc","flow_control":true}"#), name: "p")
        }
        let config = try JetStreamConsumerConfig(
            json: try object(#"{"deliver_subject":"_INBOX.fc","flow_control":true,"idle_heartbeat":500000000}"#),
            name: "p")
        #expect(config.flowControl)
    }

    @Test func idleHeartbeatAfterTheIntervalWithoutDeliveries() {
        var control = JetStreamPushControl(flowControl: false, idleHeartbeat: 100, now: 0)
        #expect(control.tick(now: 1_000) == nil)  // starts the clock
        #expect(control.tick(now: 1_099) == nil)
        #expect(
            control.tick(now: 1_100)
                == JetStreamPushControl.Heartbeat(lastConsumerSequence: 0, lastStreamSequence: 0, stalledOn: nil))
        #expect(control.tick(now: 1_150) == nil)
        _ = control.delivered(
            bytes: 3, lastConsumerSequence: 4, lastStreamSequence: 9, now: 1_180, prefix: "$JS.FC.S.C")
        #expect(control.tick(now: 1_279) == nil)  // a delivery restarts the interval
        #expect(control.tick(now: 1_280)?.lastStreamSequence == 9)
        #expect(JetStreamPushControl(flowControl: false, idleHeartbeat: 0, now: 5).isStalled == false)
    }

    @Test func flowControlRequestsStallAndAnswers() {
        var control = JetStreamPushControl(flowControl: true, idleHeartbeat: 100, now: 1)
        let request = control.delivered(
            bytes: 10, lastConsumerSequence: 1, lastStreamSequence: 1, now: 2, prefix: "$JS.FC.S.C")
        #expect(request == "$JS.FC.S.C.1")
        // One outstanding request at a time; the heartbeat names it.
        #expect(
            control.delivered(bytes: 10, lastConsumerSequence: 2, lastStreamSequence: 2, now: 3, prefix: "$JS.FC.S.C")
                == nil)
        #expect(control.tick(now: 200)?.stalledOn == "$JS.FC.S.C.1")
        #expect(!control.isStalled)
        _ = control.delivered(
            bytes: JetStreamPushControl.flowControlWindow, lastConsumerSequence: 3, lastStreamSequence: 3, now: 201,
            prefix: "$JS.FC.S.C")
        #expect(control.isStalled)
        let wrong = control.flowControlAnswered("$JS.FC.S.C.9")
        #expect(!wrong)
        let right = control.flowControlAnswered("$JS.FC.S.C.1")
        #expect(right)
        #expect(!control.isStalled)
        #expect(
            control.delivered(bytes: 1, lastConsumerSequence: 4, lastStreamSequence: 4, now: 300, prefix: "$JS.FC.S.C")
                == "$JS.FC.S.C.2")
    }
}
