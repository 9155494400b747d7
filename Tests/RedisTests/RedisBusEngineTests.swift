import BusCore
import NIOCore
import RedisEngine
import RedisWire
import Testing

@testable import RedisBus

/// The routing slice's pure parts: which Redis subscriptions a filter needs, and the frame a publication
/// travels in (round trip, sequence numbering, every truncation refused).
@Suite struct RedisBusEngineTests {
    func names(_ filter: String) throws -> [RedisBusEngine.Name] {
        RedisBusEngine.names(for: try TopicFilter(filter), prefix: "sb:")
    }

    @Test func aConcreteFilterIsOneChannel() throws {
        #expect(try names("chat/room") == [.init(kind: .channel, text: "sb:chat/room")])
        #expect(try names("$rpc/abc") == [.init(kind: .channel, text: "sb:$rpc/abc")])
    }

    @Test func wildcardsBecomeGlobPatterns() throws {
        #expect(try names("sensors/+/temp") == [.init(kind: .pattern, text: "sb:sensors/*/temp")])
        #expect(try names("#") == [.init(kind: .pattern, text: "sb:*")])
        // `a/#` also matches `a` itself: its channel too.
        #expect(
            try names("a/b/#") == [.init(kind: .channel, text: "sb:a/b"), .init(kind: .pattern, text: "sb:a/b/*")])
        // A shared subscription is its pattern's interest.
        #expect(try names("$share/g/x/+") == [.init(kind: .pattern, text: "sb:x/*")])
    }

    @Test func globCharactersInLevelsAreMatchedLiterally() throws {
        #expect(try names("a*b/+") == [.init(kind: .pattern, text: "sb:a\\*b/*")])
        #expect(RedisBusEngine.escapeGlob("x?[y]\\") == "x\\?\\[y\\]\\\\")
    }

    @Test func aFrameCarriesTheMessageAndItsSequence() throws {
        var headers = MessageHeaders(contentType: "application/json", replyTo: "$rpc/x", qos: 1)
        headers.userProperties = [UserProperty(name: "k", value: "v")]
        let message = BusMessage(
            topic: try Topic("chat/room"), payload: ByteBuffer(string: "{\"n\":1}"), headers: headers,
            publisherID: "c1", timestamp: 42)
        var frame = RedisBusFrame.encode(message, instance: "inst")
        RedisBusFrame.setSequence(7, in: &frame, instance: "inst")
        #expect(RedisBusFrame.route(of: frame)?.topic == "chat/room")
        let decoded = try #require(RedisBusFrame.decode(frame))
        #expect(decoded.instance == "inst" && decoded.sequence == 7)
        guard case .message(let received) = decoded.event else {
            Issue.record("not a message: \(decoded.event)")
            return
        }
        #expect(received.isRemote)
        #expect(received.topic.name == "chat/room" && received.timestamp == 42)
        #expect(received.headers == headers && received.publisherID == "c1")
        #expect(String(buffer: received.payload) == "{\"n\":1}")
        // Every truncation, and a wrong version, reads as nil.
        for length in 0..<frame.readableBytes {
            #expect(RedisBusFrame.decode(frame.getSlice(at: frame.readerIndex, length: length)!) == nil)
        }
        var wrong = frame
        wrong.setInteger(UInt8(9), at: wrong.readerIndex)
        #expect(RedisBusFrame.decode(wrong) == nil)
    }

    /// What the shared log's append publishes: `P<offset> <epoch>\n` and the frame.
    @Test func aPositionedFrameCarriesItsSharedPosition() throws {
        let message = BusMessage(topic: try Topic("chat/room"), payload: ByteBuffer(string: "x"), timestamp: 1)
        var frame = RedisBusFrame.encode(message, instance: "inst")
        RedisBusFrame.setSequence(3, in: &frame, instance: "inst")
        var positioned = ByteBuffer(string: "P12 k3xq9\n")
        positioned.writeImmutableBuffer(frame)
        let decoded = try #require(RedisBusFrame.decodePositioned(positioned))
        #expect(decoded.position == LogPosition(offset: 12, epoch: "k3xq9") && decoded.sequence == 3)
        #expect(RedisBusFrame.decodePositioned(frame)?.position == nil)
        for bad in ["P 12 e\n", "P12e\n", "P0 e\n", "P12 \n", "Px e\n"] {
            var broken = ByteBuffer(string: bad)
            broken.writeImmutableBuffer(frame)
            #expect(RedisBusFrame.decodePositioned(broken) == nil, "\(bad)")
        }
    }

    /// What `forwardStored` publishes for a durable log's stored message: its position in front of the
    /// frame, read back as the shared log's appends are; without a position, the frame alone.
    @Test func aStoredMessageIsPublishedBehindItsPosition() throws {
        let message = BusMessage(topic: try Topic("ledger/a"), payload: ByteBuffer(string: "x"), timestamp: 1)
        var frame = RedisBusFrame.encode(message, instance: "inst")
        RedisBusFrame.setSequence(4, in: &frame, instance: "inst")
        let stored = RedisBusEngine.Outgoing(frame: frame, position: LogPosition(offset: 7, epoch: "e1"))
        let decoded = try #require(RedisBusFrame.decodePositioned(stored.payload))
        #expect(decoded.position == LogPosition(offset: 7, epoch: "e1") && decoded.sequence == 4)
        #expect(RedisBusEngine.Outgoing(frame: frame).payload == frame)
    }

    @Test func presenceEventsAndControlFramesRoundTrip() throws {
        let info = PresenceInfo(
            clientID: "c9", userID: "alice", name: nil, protocolName: "mqtt", connectedAt: 1_700_000_000.25,
            remoteAddress: "127.0.0.1:5000")
        let join = BusMessage(topic: try Topic("room/1"), payload: ByteBuffer(), timestamp: 1, kind: .join(info))
        let frame = RedisBusFrame.encode(join, instance: "i")
        guard case .join(let topic, let decoded)? = RedisBusFrame.decode(frame)?.event else {
            Issue.record("not a join")
            return
        }
        #expect(topic.name == "room/1" && decoded == info)
        for length in 0..<frame.readableBytes {
            #expect(RedisBusFrame.decode(frame.getSlice(at: frame.readerIndex, length: length)!) == nil)
        }
        let leave = BusMessage(topic: try Topic("room/1"), payload: ByteBuffer(), timestamp: 1, kind: .leave(info))
        guard case .leave(_, let left)? = RedisBusFrame.decode(RedisBusFrame.encode(leave, instance: "i"))?.event else {
            Issue.record("not a leave")
            return
        }
        #expect(left == info)
        for kind in [RedisBusFrame.Kind.heartbeat, .hello, .goodbye] {
            let control = RedisBusFrame.control(kind, instance: "i")
            #expect(RedisBusFrame.route(of: control)?.kind == kind)
            #expect(RedisBusFrame.decode(control) != nil)
        }
    }

    @Test func aRetainedMessageFrameCarriesItsMessage() throws {
        let message = BusMessage(
            topic: try Topic("status/a"), payload: ByteBuffer(string: "on"), headers: MessageHeaders(retain: true),
            timestamp: 5)
        let frame = RedisBusFrame.retained(message, instance: "i")
        #expect(RedisBusFrame.route(of: frame)?.kind == .retained)
        guard case .retained(let decoded)? = RedisBusFrame.decode(frame)?.event else {
            Issue.record("not a retained message")
            return
        }
        #expect(decoded.topic.name == "status/a" && String(buffer: decoded.payload) == "on" && decoded.headers.retain)
    }

    @Test func groupAndClaimFramesRoundTrip() throws {
        guard
            case .group(let key, let members)? = RedisBusFrame.decode(
                RedisBusFrame.group("workers\u{1F}jobs/#", members: true, instance: "i"))?.event
        else {
            Issue.record("not a group frame")
            return
        }
        #expect(key == "workers\u{1F}jobs/#" && members)
        guard case .claim(let id)? = RedisBusFrame.decode(RedisBusFrame.claim("sensor-1", instance: "i"))?.event else {
            Issue.record("not a claim")
            return
        }
        #expect(id == "sensor-1")
    }

    /// Kind 10, sent with each heartbeat: the instance's connections, for `switchboard_cluster_connections`.
    @Test func aConnectionsFrameCarriesTheCountAndTruncationsAreRefused() throws {
        let frame = RedisBusFrame.connections(42, instance: "i")
        #expect(RedisBusFrame.route(of: frame)?.kind == .connections)
        guard case .connections(let count)? = RedisBusFrame.decode(frame)?.event else {
            Issue.record("not a connections frame")
            return
        }
        #expect(count == 42)
        for length in 0..<frame.readableBytes {
            #expect(RedisBusFrame.decode(frame.getSlice(at: frame.readerIndex, length: length)!) == nil)
        }
        var longer = frame
        longer.writeInteger(UInt8(0))
        #expect(RedisBusFrame.decode(longer) == nil)
    }

    @Test func everyInstanceChoosesTheSameGroupForAMessage() throws {
        // The choice hashes what travels with the message, never a per-process seed.
        let message = BusMessage(
            topic: try Topic("jobs/a"), payload: ByteBuffer(), publisherID: "p", timestamp: 1_700_000_000_000)
        #expect(RedisBusEngine.stableHash(message) == RedisBusEngine.stableHash(message.fromRemoteInstance()))
        // FNV-1a over "jobs/a", "p" and the timestamp's eight little-endian bytes (computed apart).
        #expect(RedisBusEngine.stableHash(message) == 0xe8e0_d137_6fc1_a161)
    }
}

/// Redis Cluster's pure parts of the engine: the interest frame, the keys of one topic in one slot, and
/// the once-in-order rule for a message that comes on two routes.
@Suite struct RedisBusEngineClusterTests {
    @Test func anInterestFrameCarriesEveryWildcardFilter() throws {
        let filters = ["chat/#", "sensors/+/temp", "ünï/+", String(repeating: "a/", count: 300) + "#"]
        var frame = RedisBusFrame.interest(filters, instance: "inst")
        RedisBusFrame.setSequence(3, in: &frame, instance: "inst")
        let decoded = try #require(RedisBusFrame.decode(frame))
        guard case .interest(let got) = decoded.event else {
            Issue.record("not an interest frame: \(decoded.event)")
            return
        }
        #expect(got == filters && decoded.sequence == 3)
        guard case .interest(let none)? = RedisBusFrame.decode(RedisBusFrame.interest([], instance: "i"))?.event else {
            Issue.record("an empty interest frame does not decode")
            return
        }
        #expect(none.isEmpty)
        for length in 0..<frame.readableBytes {
            #expect(RedisBusFrame.decode(frame.getSlice(at: frame.readerIndex, length: length)!) == nil)
        }
        // A count past what the frame holds is refused before anything is reserved.
        var lying = RedisBusFrame.interest([], instance: "i")
        lying.setInteger(UInt32.max, at: lying.writerIndex - 4, endianness: .little)
        #expect(RedisBusFrame.decode(lying) == nil)
    }

    @Test func aTopicsChannelAndLogKeysShareOneSlot() {
        for topic in ["chat/1", "a}b", "}", "{x}", "orders/eu/42", "{"] {
            let tag = RedisBusEngine.clusterTag(topic)
            let slots = Set(
                ["switchboard:" + tag, "switchboard.logmeta:" + tag, "switchboard.log:" + tag].map {
                    RedisKeySlot.slot(of: $0)
                })
            #expect(slots.count == 1, "\(topic)")
        }
        // Different topics spread over the slots.
        let spread = Set((0..<100).map { RedisKeySlot.slot(of: RedisBusEngine.clusterTag("chat/\($0)")) })
        #expect(spread.count > 90)
    }

    /// Two ordered routes (a topic's channel and an inbox) interleaved every way: each message delivered
    /// once, in order; a message sent on one route only is delivered unless a newer one came first.
    @Test func aMessageOnTwoRoutesIsDeliveredOnceInOrder() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var channel = Array(1...20).map { UInt64($0) }
            var inbox = channel
            var delivered: [UInt64] = []
            var sequences = RedisTopicSequences()
            while !channel.isEmpty || !inbox.isEmpty {
                let fromChannel = inbox.isEmpty || (!channel.isEmpty && Bool.random(using: &random))
                let next = fromChannel ? channel.removeFirst() : inbox.removeFirst()
                if sequences.isFresh(instance: "a", topic: "t", sequence: next) { delivered.append(next) }
            }
            #expect(delivered == Array(1...20).map { UInt64($0) })
        }
        var sequences = RedisTopicSequences()
        func fresh(_ instance: String, _ topic: String, _ sequence: UInt64) -> Bool {
            sequences.isFresh(instance: instance, topic: topic, sequence: sequence)
        }
        // Per sender and topic: another topic or sender has its own numbering.
        let first = [fresh("a", "t", 5), fresh("a", "u", 2), fresh("b", "t", 1), fresh("a", "t", 4)]
        #expect(first == [true, true, true, false])
        // A rotation keeps the newest numbers for one more generation, then lets them go.
        sequences.rotate()
        let second = [fresh("a", "t", 5), fresh("a", "t", 6)]
        #expect(second == [false, true])
        sequences.rotate()
        sequences.rotate()
        #expect(sequences.count == 0)
    }
}
