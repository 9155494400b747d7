import ArgumentParser

@main
struct SwitchboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract:
            "A real-time messaging hub: one bus behind WebSocket, SSE, long polling, Socket.IO, SignalR, MQTT, NATS, AMQP 0-9-1, STOMP and the Kafka REST Proxy.",
        subcommands: [
            ServeCommand.self, PublishCommand.self, SubscribeCommand.self, HashPasswordCommand.self,
            SettingsCommand.self, MigrateStoreCommand.self,
        ],
        defaultSubcommand: ServeCommand.self)
}
