/// An exchange as declared (`exchange.declare`); a redeclare must be equivalent in every field.
package struct ExchangeDefinition: Sendable, Equatable {
    package var name: String
    package var type: ExchangeType
    /// Survives a restart (the caller stores it).
    package var durable: Bool
    /// Deleted when its last binding as a source goes (not before it ever had one).
    package var autoDelete: Bool
    /// Only other exchanges may route to it; a publish to it is refused.
    package var `internal`: Bool
    /// `alternate-exchange`: where a message goes that this exchange routes nowhere.
    package var alternateExchange: String?

    package init(
        name: String, type: ExchangeType, durable: Bool = true, autoDelete: Bool = false, internal: Bool = false,
        alternateExchange: String? = nil
    ) {
        self.name = name
        self.type = type
        self.durable = durable
        self.autoDelete = autoDelete
        self.internal = `internal`
        self.alternateExchange = alternateExchange
    }
}
