/// A field table (§4.2.5.5): named values in the order they were written, so a table read from a client
/// is written back unchanged. Lookup is linear: argument and header tables hold a handful of fields.
package struct AMQPFieldTable: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    /// One named value.
    package struct Field: Sendable, Hashable {
        /// A short string: at most 255 bytes.
        package var name: String
        package var value: AMQPFieldValue

        package init(name: String, value: AMQPFieldValue) {
            self.name = name
            self.value = value
        }
    }

    /// The fields in wire order. A name may appear twice on the wire; lookup finds the first.
    package var fields: [Field]

    package init(_ fields: [Field] = []) {
        self.fields = fields
    }

    package init(dictionaryLiteral elements: (String, AMQPFieldValue)...) {
        fields = elements.map { Field(name: $0.0, value: $0.1) }
    }

    package var isEmpty: Bool { fields.isEmpty }

    /// The first value named `name`; setting replaces it in place or appends, and nil removes every one.
    package subscript(name: String) -> AMQPFieldValue? {
        get { fields.first { $0.name == name }?.value }
        set {
            guard let newValue else {
                fields.removeAll { $0.name == name }
                return
            }
            if let index = fields.firstIndex(where: { $0.name == name }) {
                fields[index].value = newValue
            } else {
                fields.append(Field(name: name, value: newValue))
            }
        }
    }
}
