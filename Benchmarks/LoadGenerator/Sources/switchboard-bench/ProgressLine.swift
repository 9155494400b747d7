import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A one-line progress bar on standard error, redrawn at most five times a second; silent unless
/// standard error is a terminal and the run is not `--json` (scripts get clean output).
struct ProgressLine {
    private let enabled: Bool
    private var lastDraw = Date.distantPast

    init(json: Bool) {
        enabled = !json && isatty(STDERR_FILENO) == 1
    }

    /// Draws `fraction` (0...1) as a bar followed by `detail`.
    mutating func update(fraction: Double, detail: @autoclosure () -> String) {
        guard enabled, Date().timeIntervalSince(lastDraw) >= 0.2 else { return }
        lastDraw = Date()
        let width = 30
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded())
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        FileHandle.standardError.write("\r\(bar) \(Int(fraction * 100))%  \(detail())\u{1B}[K".data(using: .utf8)!)
    }

    /// Clears the line.
    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!)
    }
}
