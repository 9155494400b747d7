import BusCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import BusRuntime

/// An acceptor (the collaboration service's ballots) takes its topics' publications itself; an
/// acknowledged publish to them is answered only once it is done, and every acknowledged publish of a loop
/// is answered in publish order, whatever order their parts finish in.
@Suite struct PublicationAcceptorTests {
    /// Holds each publication's `done` until the test releases it.
    final class HeldAcceptor: PublicationAcceptor {
        let held = NIOLockedValueBox<[(String, (@Sendable (String?) -> Void)?)]>([])

        func accept(_ message: BusMessage, from loop: any EventLoop, done: (@Sendable (String?) -> Void)?) {
            held.withLockedValue { $0.append((String(buffer: message.payload), done)) }
        }

        func release(_ index: Int, failure: String? = nil) {
            let done = held.withLockedValue { $0[index].1 }
            done?(failure)
        }
    }

    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    @Test func acknowledgementsWaitForTheAcceptorAndLeaveInPublishOrder() async throws {
        let loop = group.next()
        let bus = Bus(eventLoops: [loop])
        let acceptor = HeldAcceptor()
        bus.register(acceptor, for: try TopicFilter("ballots/+"))
        let answers = NIOLockedValueBox<[String]>([])
        let ballot = try Topic("ballots/a")
        let plain = try Topic("chat/a")
        let routed = try await loop.submit {
            let shard = bus.shard(for: loop)
            // No subscriber: still routed (the acceptor takes it), and a publish waits for it.
            let routed = (shard.isRouted(ballot), shard.waitsForStorage(ballot), shard.waitsForStorage(plain))
            for (topic, text) in [(ballot, "1"), (plain, "2"), (ballot, "3")] {
                shard.publish(BusMessage(topic: topic, payload: ByteBuffer(string: text), timestamp: 0), placement: nil)
                { acks in
                    answers.withLockedValue {
                        $0.append(text + (acks.isEmpty ? "" : ":" + acks.map(\.description).joined()))
                    }
                }
            }
            return routed
        }.get()
        #expect(routed == (true, true, false))
        #expect(acceptor.held.withLockedValue { $0.map(\.0) } == ["1", "3"])
        // "2" needs nothing, but it was published after "1": nothing is answered yet.
        try await loop.submit {}.get()
        #expect(answers.withLockedValue { $0 }.isEmpty)
        // The later ballot finishes first, and fails: still held behind "1".
        acceptor.release(1, failure: "disk full")
        try await loop.submit {}.get()
        #expect(answers.withLockedValue { $0 }.isEmpty)
        acceptor.release(0)
        try await loop.submit {}.get()
        #expect(answers.withLockedValue { $0 } == ["1", "2", "3:ballots/a[0] refused: disk full"])
        // A plain publish (no acknowledgement) is given to the acceptor too, without a `done`.
        try await loop.submit {
            bus.shard(for: loop).publish(BusMessage(topic: ballot, payload: ByteBuffer(string: "4"), timestamp: 0))
        }
        .get()
        #expect(acceptor.held.withLockedValue { $0.map(\.0) } == ["1", "3", "4"])
        #expect(acceptor.held.withLockedValue { $0[2].1 == nil })
        try await group.shutdownGracefully()
    }

    /// A batch publish waits for each of its messages' acceptors and gives each refusal to its message.
    @Test func aBatchWaitsForItsAcceptorsAndGivesEachRefusalToItsMessage() async throws {
        let loop = group.next()
        let bus = Bus(eventLoops: [loop])
        let acceptor = HeldAcceptor()
        bus.register(acceptor, for: try TopicFilter("ballots/+"))
        let answers = NIOLockedValueBox<[[String]]?>(nil)
        let topics = [try Topic("ballots/a"), try Topic("chat/a"), try Topic("ballots/b")]
        try await loop.submit {
            let messages = topics.enumerated().map {
                BusMessage(topic: $1, payload: ByteBuffer(string: "\($0)"), timestamp: 0)
            }
            bus.shard(for: loop).publish(messages, placements: [nil, nil, nil]) { batch in
                answers.withLockedValue { $0 = batch.map { $0.map(\.description) } }
            }
        }.get()
        #expect(acceptor.held.withLockedValue { $0.map(\.0) } == ["0", "2"])
        acceptor.release(1, failure: "closed")
        try await loop.submit {}.get()
        #expect(answers.withLockedValue { $0 } == nil)
        acceptor.release(0)
        try await loop.submit {}.get()
        #expect(answers.withLockedValue { $0 } == [[], [], ["ballots/b[0] refused: closed"]])
        try await group.shutdownGracefully()
    }
}
