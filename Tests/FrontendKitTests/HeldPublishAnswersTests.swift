import NIOCore
import NIOEmbedded
import Testing

@testable import FrontendKit

/// The polling transports' side of publisher flow control: a POST's answer goes at once unless its publisher
/// is paused; held, it goes when the pause ends (or the publisher closes), or at its cap — each once.
@Suite struct HeldPublishAnswersTests {
    @Test func anAnswerIsHeldOnlyWhilePausedAndGoesOnceAtTheResumeOrTheCap() throws {
        let loop = EmbeddedEventLoop()
        let held = HeldPublishAnswers()
        var answered: [String] = []
        func post(_ name: String, paused: Bool) {
            held.answer(paused: paused, on: loop, atMost: .seconds(4)).whenSuccess { answered.append(name) }
        }

        post("free", paused: false)
        #expect(answered == ["free"])

        post("a", paused: true)
        post("b", paused: true)
        loop.advanceTime(by: .seconds(3))
        #expect(answered == ["free"] && held.count == 2)
        held.releaseAll()  // the pause ended
        #expect(answered == ["free", "a", "b"] && held.count == 0)
        loop.advanceTime(by: .seconds(2))  // their caps pass: nothing is answered twice
        #expect(answered == ["free", "a", "b"])

        post("c", paused: true)
        loop.advanceTime(by: .seconds(2))
        post("d", paused: true)
        loop.advanceTime(by: .milliseconds(2_001))  // c's cap, not d's
        #expect(answered == ["free", "a", "b", "c"] && held.count == 1)
        loop.advanceTime(by: .seconds(2))
        #expect(answered == ["free", "a", "b", "c", "d"] && held.count == 0)
        held.releaseAll()
        #expect(answered.count == 5)
        try loop.syncShutdownGracefully()
    }
}
