import Foundation
import FrontendKit

extension FrontendList {
    /// The listeners `serve` opens with no options beyond HTTP's, as "`name` on `port`" — for the CLI's
    /// help, so a new frontend shows up there without an edit to the CLI.
    package static var defaultListeners: String {
        all.compactMap { frontend in frontend.defaultPort.map { "\(frontend.name) on \($0)" } }
            .joined(separator: ", ")
    }

    /// Every frontend's settings for `serve --help`: one block per frontend, one line per key with its
    /// config key, environment variable and default. Made from the same declarations the loader reads.
    package static var helpText: String {
        ServerConfiguration().frontends.map { frontend in
            var lines = ["\(frontend.name): \(frontend.type.summary)"]
            for key in frontend.keys {
                let variable = "SWITCHBOARD_\(frontend.name.uppercased())_\(key.key.uppercased())"
                lines.append("  \(frontend.name).\(key.key) (\(variable); default \(key.defaultValue)): \(key.help)")
            }
            return lines.joined(separator: "\n")
        }.joined(separator: "\n\n")
    }

    /// The same as a Markdown section for docs/operations.md (a test checks the file holds it).
    package static var markdown: String {
        var text = ""
        for frontend in ServerConfiguration().frontends {
            text += "### `\(frontend.name)`\n\n\(frontend.type.summary)\n\n"
            text += "| key | environment | default | |\n|---|---|---|---|\n"
            for key in frontend.keys {
                let variable = "SWITCHBOARD_\(frontend.name.uppercased())_\(key.key.uppercased())"
                let help = key.help.replacingOccurrences(of: "|", with: "\\|")
                text += "| `\(frontend.name).\(key.key)` | `\(variable)` | `\(key.defaultValue)` | \(help) |\n"
            }
            text += "\n"
        }
        return text
    }
}
