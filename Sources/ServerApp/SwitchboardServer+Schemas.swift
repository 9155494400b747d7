import BusRuntime
import Dispatch
import NIOConcurrencyHelpers

extension SwitchboardServer {
    /// Startup, after the stored streams are back: the Schema Registry replays its `_schemas` stream (or
    /// creates it on a new store). Returns the log line.
    func restoreSchemas() throws -> String {
        let done = DispatchSemaphore(value: 0)
        let outcome = NIOLockedValueBox<Result<Int, BusError>?>(nil)
        bus.schemas.start { result in
            outcome.withLockedValue { $0 = result }
            done.signal()
        }
        done.wait()
        let records = try outcome.withLockedValue { $0! }.get()
        return "schema registry: \(records) records replayed from \(SchemaRegistry.streamName)"
    }
}
