import ArgumentParser
import ServerApp

/// `switchboard settings`: every frontend's config keys as the Markdown section of docs/operations.md
/// (the same declarations `serve --help` and the loader use).
struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Print every frontend's settings (config key, environment variable, default) as Markdown.")

    func run() {
        print(FrontendList.markdown, terminator: "")
    }
}
