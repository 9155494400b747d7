/// Avro schema resolution (spec, "Schema Resolution"): can data written with `writer` be read with
/// `reader`? Mirrors Avro Java's `SchemaCompatibility`, which Confluent's registry runs: type promotions
/// int→long→float→double and string⇄bytes, record fields matched by name or alias with defaults for
/// fields the writer lacks, enum symbols (or the reader's default), fixed sizes, union branches.
package enum AvroCompatibility {
    /// Every reason the reader cannot read the writer's data; empty when it can.
    package static func incompatibilities(reader: AvroSchema, writer: AvroSchema) -> [String] {
        var checker = Checker(reader: reader, writer: writer)
        checker.check(reader.root, writer.root, path: "")
        return checker.problems
    }

    private struct Checker {
        let reader: AvroSchema
        let writer: AvroSchema
        var problems: [String] = []
        /// Named pairs being compared further up: a recursive type is assumed compatible with itself.
        var inProgress: Set<String> = []

        init(reader: AvroSchema, writer: AvroSchema) {
            self.reader = reader
            self.writer = writer
        }

        mutating func check(_ readerType: AvroType, _ writerType: AvroType, path: String) {
            let r = reader.resolve(readerType)
            let w = writer.resolve(writerType)
            let at = path.isEmpty ? "/" : path
            // A writer union: every branch the writer may have written must be readable.
            if case .union(let writerBranches) = w {
                for (index, branch) in writerBranches.enumerated() {
                    check(readerType, branch, path: "\(path)/\(index)")
                }
                return
            }
            switch (r, w) {
            case (.union(let readerBranches), _):
                // The first reader branch that can read the writer's type is used.
                for branch in readerBranches {
                    var trial = Checker(reader: reader, writer: writer)
                    trial.inProgress = inProgress
                    trial.check(branch, writerType, path: path)
                    if trial.problems.isEmpty { return }
                }
                problems.append("MISSING_UNION_BRANCH at \(at): reader union lacks writer type \(w.branchName)")
            case (.null, .null), (.boolean, .boolean), (.int, .int), (.long, .long), (.float, .float),
                (.double, .double), (.bytes, .bytes), (.string, .string):
                return
            // Promotions.
            case (.long, .int), (.float, .int), (.float, .long), (.double, .int), (.double, .long), (.double, .float),
                (.bytes, .string), (.string, .bytes):
                return
            case (.array(let readerItems), .array(let writerItems)):
                check(readerItems, writerItems, path: "\(path)/items")
            case (.map(let readerValues), .map(let writerValues)):
                check(readerValues, writerValues, path: "\(path)/values")
            case (.fixed(let readerFixed), .fixed(let writerFixed)):
                if !Self.namesMatch(readerFixed.fullName, readerFixed.aliases, writerFixed.fullName) {
                    problems.append(
                        "NAME_MISMATCH at \(at): expected \(writerFixed.fullName), found \(readerFixed.fullName)")
                } else if readerFixed.size != writerFixed.size {
                    problems.append(
                        "FIXED_SIZE_MISMATCH at \(at)/size: expected \(writerFixed.size), found \(readerFixed.size)")
                }
            case (.enumeration(let readerEnum), .enumeration(let writerEnum)):
                if !Self.namesMatch(readerEnum.fullName, readerEnum.aliases, writerEnum.fullName) {
                    problems.append(
                        "NAME_MISMATCH at \(at): expected \(writerEnum.fullName), found \(readerEnum.fullName)")
                } else if readerEnum.defaultSymbol == nil {
                    let missing = writerEnum.symbols.filter { !readerEnum.symbols.contains($0) }
                    if !missing.isEmpty {
                        problems.append("MISSING_ENUM_SYMBOLS at \(at)/symbols: \(missing.joined(separator: ", "))")
                    }
                }
            case (.record(let readerRecord), .record(let writerRecord)):
                checkRecords(readerRecord, writerRecord, path: path)
            default:
                problems.append(
                    "TYPE_MISMATCH at \(at): reader type \(r.branchName) cannot read writer type \(w.branchName)")
            }
        }

        private mutating func checkRecords(_ readerRecord: AvroRecord, _ writerRecord: AvroRecord, path: String) {
            let at = path.isEmpty ? "/" : path
            guard Self.namesMatch(readerRecord.fullName, readerRecord.aliases, writerRecord.fullName) else {
                problems.append(
                    "NAME_MISMATCH at \(at): expected \(writerRecord.fullName), found \(readerRecord.fullName)")
                return
            }
            let key = "\(readerRecord.fullName)<-\(writerRecord.fullName)"
            guard inProgress.insert(key).inserted else { return }
            defer { inProgress.remove(key) }
            for (index, readerField) in readerRecord.fields.enumerated() {
                let writerField =
                    writerRecord.fields.first { $0.name == readerField.name }
                    ?? writerRecord.fields.first { readerField.aliases.contains($0.name) }
                if let writerField {
                    check(readerField.type, writerField.type, path: "\(path)/fields/\(index)/type")
                } else if readerField.defaultValue == nil {
                    problems.append(
                        "READER_FIELD_MISSING_DEFAULT_VALUE at \(path)/fields/\(index): \(readerField.name) has no default"
                    )
                }
            }
        }

        /// Avro Java compares unqualified names, or the writer's full name against the reader's aliases.
        static func namesMatch(_ readerName: String, _ readerAliases: [String], _ writerName: String) -> Bool {
            AvroType.shortName(readerName) == AvroType.shortName(writerName) || readerAliases.contains(writerName)
        }
    }
}
