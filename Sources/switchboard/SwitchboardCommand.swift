import ArgumentParser

@main
struct SwitchboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A real-time messaging hub: one bus behind every protocol it speaks (`serve --help` lists them).",
        subcommands: [
            ServeCommand.self, PublishCommand.self, SubscribeCommand.self, HashPasswordCommand.self,
            SettingsCommand.self, MigrateStoreCommand.self, RecordsCommand.self, WatchCommand.self,
            MCPCommand.self,
        ],
        defaultSubcommand: ServeCommand.self)
}
