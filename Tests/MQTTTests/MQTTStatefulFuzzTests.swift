import BusCore
import BusRuntime
import FrontendKit
import MQTTWire
import NIOCore
import NIOEmbedded
import SwitchboardTestSupport
import Testing

@testable import MQTTFrontend

/// Stateful fuzzing of the MQTT connection handler (issue 26): random sequences of packets — valid ones in
/// random orders, mutated, truncated, several per read or split across reads — interleaved with
/// writability changes, time passing and publications from elsewhere, each through a fresh handler on an
/// EmbeddedChannel. After each: no crash, nothing the connection held left behind once it is closed and
/// its session expired, and every acknowledgement answers a packet the client did send.
@Suite struct MQTTStatefulFuzzTests {
    static let topics = ["a/b", "a/c", "x", "a/b/c"]
    static let filters = ["a/#", "a/b", "+/c", "$share/g/a/b", "x", "a/+/c", "#", "a/#/b", ""]

    @Test func randomPacketSequencesNeitherCrashLeakNorAcknowledgeWhatWasNotDone() throws {
        for failure in try StatefulFuzzPlan(defaultIterations: 100).failures(
            "MQTTStatefulFuzzTests", of: Self.runSequence)
        {
            Issue.record(Comment(rawValue: failure))
        }
    }

    /// The check itself: acknowledgements of packets that were never sent are caught.
    @Test func theCheckCatchesAcknowledgementsOfPacketsNeverSent() throws {
        var transcript = StatefulFuzzTranscript()
        transcript.input =
            Self.bytes(.connect(MQTTConnectPacket(version: .v5, clientID: "c")), .v5)
            + Self.bytes(
                .publish(MQTTPublishPacket(topic: "a/b", payload: ByteBuffer(), qos: .atLeastOnce, packetID: 1)), .v5)
        transcript.output =
            Self.bytes(.ack(MQTTAckPacket(.pubAck, packetID: 1)), .v5)
            + Self.bytes(.ack(MQTTAckPacket(.pubAck, packetID: 2)), .v5) + Self.bytes(.pingResp, .v5)
        let problems = try Self.acknowledgementProblems(transcript)
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.contains { $0.contains("PUBACK 2") })
    }

    static func runSequence(seed: UInt64) throws -> [String] {
        var random = SplitMix(state: seed)
        let version: MQTTProtocolVersion = Bool.random(using: &random) ? .v5 : .v3_1_1
        let harness = EmbeddedBusHarness()
        let services = MQTTServices(
            bus: harness.bus, connections: harness.connections,
            authenticator: StaticTokenAuthenticator(allowsAnonymous: true, tokens: [:]),
            configuration: MQTTConfiguration(), retained: RetainedMessageStore())
        var properties = MQTTProperties()
        if version == .v5 { properties.sessionExpiryInterval = [nil, 5, 120].randomElement(using: &random)! }
        let connect = MQTTConnectPacket(
            version: version, clientID: "fuzz", cleanStart: Int.random(in: 0..<4, using: &random) != 0,
            keepAliveSeconds: UInt16.random(in: 0...5, using: &random), properties: properties)
        let script = StatefulFuzzScript(opening: [bytes(.connect(connect), version)], topics: topics) { random in
            bytes(packet(version: version, connect: connect, using: &random), version)
        }
        let steps = script.steps(using: &random)
        let before = harness.bus.registry.count
        let channel = try harness.connectedChannel([MQTTConnectionHandler(services: services, transport: "test")])
        let transcript = harness.run(steps, on: channel)
        var problems = try acknowledgementProblems(transcript)
        let seen = clientPackets(transcript.input)
        // A 3.1.1 session without clean session lasts until the client comes back: its subscriptions stay.
        let persists = seen.connects.contains { $0.version == .v3_1_1 && !$0.cleanStart }
        problems += harness.leaks(after: channel, subscriptionsBefore: persists ? nil : before)
        return problems
    }

    static func bytes(_ packet: MQTTPacket, _ version: MQTTProtocolVersion) -> [UInt8] {
        var buffer = ByteBuffer()
        packet.write(version: version, to: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Any packet a client may send after CONNECT (and a second CONNECT, which it may not).
    static func packet(
        version: MQTTProtocolVersion, connect: MQTTConnectPacket, using random: inout SplitMix
    ) -> MQTTPacket {
        // Few packet identifiers, so duplicates and acknowledgements of unknown ones happen.
        let id = UInt16.random(in: 1...6, using: &random)
        let qos = MQTTQoS(rawValue: UInt8.random(in: 0...2, using: &random))!
        switch Int.random(in: 0..<12, using: &random) {
        case 0..<4:
            var properties = MQTTProperties()
            if version == .v5, Int.random(in: 0..<4, using: &random) == 0 {
                properties.topicAlias = UInt16.random(in: 1...3, using: &random)
            }
            let topic = Int.random(in: 0..<10, using: &random) == 0 ? "a/+" : topics.randomElement(using: &random)!
            return .publish(
                MQTTPublishPacket(
                    topic: topic, payload: ByteBuffer(string: "p"), qos: qos,
                    retain: Int.random(in: 0..<5, using: &random) == 0,
                    packetID: qos == .atMostOnce ? nil : id, properties: properties))
        case 4:
            let kind: MQTTAckPacket.Kind = [.pubAck, .pubRec, .pubRel, .pubComp].randomElement(using: &random)!
            return .ack(MQTTAckPacket(kind, packetID: id))
        case 5..<7:
            let count = Int.random(in: 1...3, using: &random)
            let subscriptions = (0..<count).map { _ in
                MQTTSubscription(
                    filter: filters.randomElement(using: &random)!,
                    maxQoS: MQTTQoS(rawValue: UInt8.random(in: 0...2, using: &random))!)
            }
            return .subscribe(MQTTSubscribePacket(packetID: id, subscriptions: subscriptions))
        case 7:
            return .unsubscribe(MQTTUnsubscribePacket(packetID: id, filters: [filters.randomElement(using: &random)!]))
        case 8, 9: return .pingReq
        case 10:
            return .disconnect(
                MQTTDisconnectPacket(reasonCode: [.success, .disconnectWithWill].randomElement(using: &random)!))
        default: return .connect(connect)
        }
    }

    /// What the client sent, as the server's decoder reads it: up to the first packet it cannot decode.
    struct ClientPackets {
        var connects: [MQTTConnectPacket] = []
        var publishes: [MQTTPublishPacket] = []
        var acks: [MQTTAckPacket] = []
        var subscribes: [UInt16] = []
        var unsubscribes: [UInt16] = []
        var pings = 0
    }

    static func clientPackets(_ input: [UInt8]) -> ClientPackets {
        var seen = ClientPackets()
        var buffer = ByteBuffer(bytes: input)
        var version: MQTTProtocolVersion?
        while let packet = try? MQTTPacketDecoder.decode(&buffer, version: version, limits: MQTTConfiguration().limits)
        {
            switch packet {
            case .connect(let connect):
                seen.connects.append(connect)
                version = version ?? connect.version
            case .publish(let publish): seen.publishes.append(publish)
            case .ack(let ack): seen.acks.append(ack)
            case .subscribe(let subscribe): seen.subscribes.append(subscribe.packetID)
            case .unsubscribe(let unsubscribe): seen.unsubscribes.append(unsubscribe.packetID)
            case .pingReq: seen.pings += 1
            default: break
            }
        }
        return seen
    }

    /// Every packet the server wrote must decode, and each acknowledgement must answer something the
    /// client sent: PUBACK a QoS 1 PUBLISH with that identifier (a successful one, a PUBLISH whose topic
    /// is a topic name or an alias), PUBREC a QoS 2 one, PUBCOMP a PUBREL, SUBACK and UNSUBACK their
    /// requests, PINGRESP a PINGREQ, CONNACK the first CONNECT.
    static func acknowledgementProblems(_ transcript: StatefulFuzzTranscript) throws -> [String] {
        let seen = clientPackets(transcript.input)
        var problems: [String] = []
        guard let version = seen.connects.first?.version else {
            if !transcript.output.isEmpty, transcript.output.first.map({ $0 >> 4 }) != 2 {
                problems.append("wrote \(transcript.output.count) bytes before any CONNECT")
            }
            return problems
        }
        var output = ByteBuffer(bytes: transcript.output)
        var written: [MQTTPacket] = []
        do {
            var limits = MQTTLimits()
            limits.maxPacketSize = 1 << 20
            while let packet = try MQTTPacketDecoder.decode(&output, version: version, limits: limits) {
                written.append(packet)
            }
        } catch {
            problems.append("the server wrote a packet that does not decode: \(error)")
        }
        if output.readableBytes > 0 {
            problems.append("the server wrote \(output.readableBytes) bytes of a partial packet")
        }
        func count<T: Equatable>(_ value: T, in values: [T]) -> Int { values.filter { $0 == value }.count }
        var acknowledged: [MQTTAckPacket.Kind: [UInt16]] = [:]
        var subAcks: [UInt16] = []
        var unsubAcks: [UInt16] = []
        var pingResponses = 0
        var connAcks = 0
        for packet in written {
            switch packet {
            case .connAck: connAcks += 1
            case .ack(let ack) where ack.kind != .pubRel:
                acknowledged[ack.kind, default: []].append(ack.packetID)
                if ack.kind == .pubAck, !ack.reasonCode.isFailure {
                    let accepted = seen.publishes.contains {
                        $0.qos == .atLeastOnce && $0.packetID == ack.packetID
                            && ((try? Topic($0.topic)) != nil || ($0.topic.isEmpty && $0.properties.topicAlias != nil))
                    }
                    if !accepted {
                        problems.append("successful PUBACK \(ack.packetID) for no acceptable QoS 1 PUBLISH")
                    }
                }
            case .subAck(let ack) where ack.kind == .subAck: subAcks.append(ack.packetID)
            case .subAck(let ack): unsubAcks.append(ack.packetID)
            case .pingResp: pingResponses += 1
            default: break
            }
        }
        let qos1 = seen.publishes.filter { $0.qos == .atLeastOnce }.compactMap(\.packetID)
        let qos2 = seen.publishes.filter { $0.qos == .exactlyOnce }.compactMap(\.packetID)
        let releases = seen.acks.filter { $0.kind == .pubRel }.map(\.packetID)
        let answered: [(MQTTAckPacket.Kind, [UInt16])] = [(.pubAck, qos1), (.pubRec, qos2), (.pubComp, releases)]
        for (kind, requests) in answered {
            for id in Set(acknowledged[kind] ?? [])
            where count(id, in: acknowledged[kind] ?? []) > count(id, in: requests) {
                problems.append(
                    "\(kind) \(id) sent \(count(id, in: acknowledged[kind] ?? [])) times for \(count(id, in: requests)) packets"
                )
            }
        }
        for id in Set(subAcks) where count(id, in: subAcks) > count(id, in: seen.subscribes) {
            problems.append("SUBACK \(id) without as many SUBSCRIBEs")
        }
        for id in Set(unsubAcks) where count(id, in: unsubAcks) > count(id, in: seen.unsubscribes) {
            problems.append("UNSUBACK \(id) without as many UNSUBSCRIBEs")
        }
        if pingResponses > seen.pings { problems.append("\(pingResponses) PINGRESPs for \(seen.pings) PINGREQs") }
        if connAcks > 1 { problems.append("\(connAcks) CONNACKs") }
        return problems
    }
}
