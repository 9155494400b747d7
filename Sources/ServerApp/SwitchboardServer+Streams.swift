import BusCore
import BusRuntime
import Dispatch
import Logging
import NIOConcurrencyHelpers
import Storage

extension SwitchboardServer {
    /// Startup: the stored streams come back, then the config file's `streams` are created, or — when the
    /// store has them — given the file's filters, limits and memory tail. Returns the log line.
    func restoreStreams(_ state: StoredState) throws -> String {
        let restored = bus.streams.restore(state.streams, offsets: state.streamConsumerOffsets)
        var created = 0
        var updated = 0
        for wanted in self.configuration.streams {
            if let existing = bus.streams.stream(named: wanted.name) {
                if existing.configuration.partitions != wanted.partitions
                    || existing.configuration.storage != wanted.storage
                {
                    logger.warning(
                        "streams: \(wanted.name) keeps its stored partitions (\(existing.configuration.partitions)) and storage (\(existing.configuration.storage.rawValue)); the config file's differ"
                    )
                }
                _ = try Self.wait { done in
                    self.bus.streams.update(
                        wanted.name, limits: wanted.limits, filters: wanted.filters, memoryTail: wanted.memoryTail,
                        completion: done)
                }
                updated += 1
            } else {
                do {
                    _ = try Self.wait { done in self.bus.streams.create(wanted, completion: done) }
                    created += 1
                } catch  where bus.streams.stream(named: wanted.name) != nil {
                    // Made meanwhile by another instance sharing the database (taken up here): updated.
                    _ = try Self.wait { done in
                        self.bus.streams.update(
                            wanted.name, limits: wanted.limits, filters: wanted.filters, memoryTail: wanted.memoryTail,
                            completion: done)
                    }
                    updated += 1
                }
            }
        }
        return
            "streams: \(restored.streams) restored (\(restored.messages) messages, \(restored.newEpochs) partitions in a new epoch), \(created) created and \(updated) updated from the config file"
    }

    /// Waits for a stream operation's completion (startup only: the store answers on its own thread).
    private static func wait<Value: Sendable>(
        _ operation: (@escaping @Sendable (Result<Value, BusError>) -> Void) -> Void
    ) throws -> Value {
        let done = DispatchSemaphore(value: 0)
        let result = NIOLockedValueBox<Result<Value, BusError>?>(nil)
        operation { outcome in
            result.withLockedValue { $0 = outcome }
            done.signal()
        }
        done.wait()
        switch result.withLockedValue({ $0! }) {
        case .success(let value): return value
        case .failure(let error): throw ConfigurationError("streams: \(error)")
        }
    }
}
