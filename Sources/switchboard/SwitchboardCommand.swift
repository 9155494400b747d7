import ArgumentParser

@main
struct SwitchboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A real-time messaging hub: one bus behind WebSocket, HTTP and (soon) MQTT, NATS, AMQP, STOMP.",
        subcommands: [ServeCommand.self, PublishCommand.self, SubscribeCommand.self, HashPasswordCommand.self],
        defaultSubcommand: ServeCommand.self)
}
