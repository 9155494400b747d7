import Atomics
import BusCore
import BusRuntime
import FrontendKit
import NIOCore

/// Publishes broker statistics as retained messages under `$SYS/broker/` every `sysIntervalSeconds`
/// (mosquitto's names, so existing dashboards work). `$` topics are not matched by `#` or `+/…`
/// subscriptions ([MQTT-4.7.2-1]); subscribe to `$SYS/#` to see them.
struct MQTTSystemTopics {
    let services: MQTTServices

    func start() -> RepeatedTask? {
        let interval = services.configuration.sysIntervalSeconds
        guard interval > 0 else { return nil }
        let loop = services.bus.shards[0].eventLoop
        let started = services.bus.clock()
        let services = self.services
        return loop.scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(Int64(interval))) { _ in
            let statistics = services.statistics
            let values: [(String, Int)] = [
                ("clients/connected", statistics.clientsConnected.load(ordering: .relaxed)),
                ("clients/sessions", services.sessions.count),
                ("messages/received", statistics.messagesReceived.load(ordering: .relaxed)),
                ("messages/sent", statistics.messagesSent.load(ordering: .relaxed)),
                ("bytes/received", statistics.bytesReceived.load(ordering: .relaxed)),
                ("bytes/sent", statistics.bytesSent.load(ordering: .relaxed)),
                ("retained messages/count", services.retained.count),
                ("uptime", Int((services.bus.clock() - started) / 1_000_000_000)),
            ]
            let now = services.bus.clock()
            for (name, value) in values {
                let message = BusMessage(
                    topic: Topic(trusted: "$SYS/broker/" + name), payload: ByteBuffer(string: String(value)),
                    headers: MessageHeaders(contentType: "text/plain", retain: true), timestamp: now)
                services.retained.retain(message)
                services.bus.publish(message, on: loop)
            }
        }
    }
}
