/// Byte arrays joined: one call per example keeps the type checker fast where `+` chains in large
/// literals would not.
func bytes(_ parts: [UInt8]...) -> [UInt8] { parts.flatMap { $0 } }
