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
