package import Logging
package import NIOCore
package import ServiceLifecycle

/// Repeating work on event loops (metrics reports, `$SYS` statistics, log trimming) as a `Service`:
/// scheduled when the group starts it, cancelled on graceful shutdown before the loops stop, so no task
/// is ever rescheduled on a loop that has shut down.
package final class PeriodicTaskService: Service, Sendable {
    private let name: String
    private let schedule: @Sendable () -> [RepeatedTask]
    private let logger: Logger

    /// `schedule` starts the repeated tasks and returns them (it runs once, when the service starts).
    package init(name: String, logger: Logger, schedule: @escaping @Sendable () -> [RepeatedTask]) {
        self.name = name
        self.logger = logger
        self.schedule = schedule
    }

    /// One repeated task on each of `loops`.
    package convenience init(
        name: String, logger: Logger, loops: [any EventLoop], initialDelay: TimeAmount, every interval: TimeAmount,
        _ body: @escaping @Sendable (any EventLoop) -> Void
    ) {
        self.init(name: name, logger: logger) {
            loops.map { loop in
                loop.scheduleRepeatedTask(initialDelay: initialDelay, delay: interval) { _ in body(loop) }
            }
        }
    }

    package func run() async throws {
        let tasks = schedule()
        logger.debug("\(name) started", metadata: ["tasks": "\(tasks.count)"])
        // Until shutdown (or cancellation), then cancel: a cancelled task is never rescheduled.
        try? await gracefulShutdown()
        for task in tasks {
            task.cancel()
        }
    }
}
