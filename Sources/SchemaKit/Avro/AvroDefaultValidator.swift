/// Checks every field default against its field's type, as Avro's Java parser does when it validates
/// defaults (Confluent's registry refuses such schemas with 42201).
struct AvroDefaultValidator {
    let schema: AvroSchema

    func validateDefaults(_ root: AvroType) throws(SchemaError) {
        var visited: Set<String> = []
        try visit(root, visited: &visited)
    }

    private func visit(_ type: AvroType, visited: inout Set<String>) throws(SchemaError) {
        switch type {
        case .record(let record):
            guard visited.insert(record.fullName).inserted else { return }
            for field in record.fields {
                try visit(field.type, visited: &visited)
                guard let defaultValue = field.defaultValue else { continue }
                var writer = AvroJSONWriter(schema: schema, unions: .firstBranch)
                do {
                    try writer.write(defaultValue, as: field.type, path: "default", depth: 0)
                } catch {
                    throw .schema("invalid default for field \(field.name) of \(record.fullName): \(error.message)")
                }
            }
        case .array(let inner), .map(let inner), .logical(_, let inner): try visit(inner, visited: &visited)
        case .union(let branches):
            for branch in branches { try visit(branch, visited: &visited) }
        default: return
        }
    }
}
