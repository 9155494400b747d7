import BusCore
import BusRuntime
import Dispatch
import NIOConcurrencyHelpers

extension SwitchboardServer {
    /// Startup, after the stored collections are back: the config file's `collections` are created, or
    /// given the file's schema and rules when the store has them. Returns the log line's part.
    func restoreCollections() throws -> String {
        var created = 0
        var updated = 0
        for definition in configuration.collections {
            let replace = records.definition(definition.name) != nil
            let done = DispatchSemaphore(value: 0)
            let outcome = NIOLockedValueBox<Result<RecordCollectionDefinition, RecordError>?>(nil)
            records.saveCollection(definition, replace: replace) { result in
                outcome.withLockedValue { $0 = result }
                done.signal()
            }
            done.wait()
            if case .failure(let error)? = outcome.withLockedValue({ $0 }) {
                throw ConfigurationError("collections: \(definition.name): \(error)")
            }
            if replace { updated += 1 } else { created += 1 }
        }
        return "\(created) created and \(updated) updated from the config file"
    }
}
