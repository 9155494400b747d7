/// What a successful evaluation learned about which parts of the instance were evaluated, for
/// `unevaluatedProperties` and `unevaluatedItems` (draft 2020-12 §11).
struct JSONSchemaAnnotations {
    /// Object members some keyword evaluated.
    var properties: Set<String> = []
    /// Array items `0..<itemsPrefix` were evaluated (prefixItems).
    var itemsPrefix = 0
    /// Every item was evaluated (items, unevaluatedItems, a long enough prefixItems).
    var allItems = false
    /// Items matched by `contains`.
    var items: Set<Int> = []

    mutating func merge(_ other: JSONSchemaAnnotations) {
        properties.formUnion(other.properties)
        itemsPrefix = max(itemsPrefix, other.itemsPrefix)
        allItems = allItems || other.allItems
        items.formUnion(other.items)
    }

    func evaluated(item index: Int) -> Bool { allItems || index < itemsPrefix || items.contains(index) }
}
