import ArgumentParser
import Foundation
import SecurityKit

/// `switchboard hash-password`: the `password_hash` of a static user (docs/security.md).
struct HashPasswordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash-password",
        abstract: "Print a PBKDF2-SHA256 hash for a static user's password_hash (config key security.users).",
        discussion: "Reads the password from standard input (one line) unless --password is given.")

    @Option(help: "The password (visible in the process list and shell history; prefer standard input).")
    var password: String?

    @Option(help: "PBKDF2 rounds (default \(PasswordHash.defaultRounds), at least \(PasswordHash.minimumRounds)).")
    var rounds: Int = PasswordHash.defaultRounds

    func run() throws {
        guard rounds >= PasswordHash.minimumRounds else {
            throw ValidationError("--rounds must be at least \(PasswordHash.minimumRounds)")
        }
        guard let password = password ?? readLine(strippingNewline: true), !password.isEmpty else {
            throw ValidationError("no password given (standard input was empty)")
        }
        print(try PasswordHash.make(password: password, rounds: rounds))
    }
}
