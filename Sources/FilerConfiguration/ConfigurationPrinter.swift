/// The effective configuration as YAML the loader accepts back, key by key from the schema.
public enum ConfigurationPrinter {
    public static func yaml(_ configuration: Configuration) -> String {
        var lines: [String] = []
        var section = ""
        for setting in ConfigurationSchema.settings {
            let parts = setting.key.split(separator: ".", maxSplits: 1).map(String.init)
            let (name, indent) = parts.count == 2 ? (parts[1], "  ") : (parts[0], "")
            if parts.count == 2 && parts[0] != section {
                section = parts[0]
                lines.append("\(section):")
            } else if parts.count == 1 {
                section = ""
            }
            if setting.isList && setting.value(in: configuration) != "none" {
                lines.append("\(indent)\(name):")
                for item in setting.value(in: configuration).split(separator: ",") {
                    lines.append("\(indent)  - \(item.trimmed())")
                }
            } else {
                var line = "\(indent)\(name): \(quotedIfNeeded(setting.value(in: configuration)))"
                if setting.key == "workers", configuration.workers == .auto {
                    line += "  # \(configuration.workerCount) on this machine"
                }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Plain where YAML reads it back as the same string, double-quoted otherwise.
    static func quotedIfNeeded(_ value: String) -> String {
        let plain = !value.isEmpty && !value.contains(": ") && !value.contains(" #") && !value.hasSuffix(":")
            && !"!&*[]{}|>'\"%@`,#-?".contains(value.first!) && value.trimmed() == value
            && value.allSatisfy { $0 != "\\" && $0 != "\"" && $0.isASCII && !($0.asciiValue! < 0x20) }
        if plain { return value }
        var escaped = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case _ where scalar.value < 0x20: escaped += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped + "\""
    }
}
