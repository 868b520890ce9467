namespace RetailStreaming.Cli;

/// <summary>
/// A command line split into words and options: <c>--name value</c>, <c>--name=value</c>,
/// <c>-f value</c>, and the flags that take no value. Options may stand anywhere.
/// </summary>
public sealed class CommandLine
{
    private static readonly HashSet<string> Flags = ["json", "help", "operator", "all", "force", "dry-run", "update", "stop", "report"];
    private static readonly Dictionary<string, string> ShortNames = new() { ["f"] = "file", ["h"] = "help" };

    private readonly Dictionary<string, string> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    private CommandLine(List<string> words) => Words = words;

    /// <summary>The words that are not options, in order (verbs and arguments).</summary>
    public IReadOnlyList<string> Words { get; }

    /// <summary>Splits <paramref name="args"/>; throws a usage error for an option without its value.</summary>
    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        var words = new List<string>();
        var line = new CommandLine(words);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                words.AddRange(args.Skip(i + 1));
                break;
            }
            string? name = null;
            string? value = null;
            if (arg.StartsWith("--", StringComparison.Ordinal) && arg.Length > 2)
            {
                name = arg[2..];
                var eq = name.IndexOf('=');
                if (eq >= 0) (name, value) = (name[..eq], name[(eq + 1)..]);
            }
            else if (arg.StartsWith('-') && arg.Length == 2 && ShortNames.TryGetValue(arg[1..], out var longName))
            {
                name = longName;
            }
            if (name is null)
            {
                words.Add(arg);
                continue;
            }
            if (Flags.Contains(name))
            {
                line._options[name] = value ?? "true";
                continue;
            }
            if (value is null)
            {
                if (i + 1 >= args.Count)
                    throw CliException.Usage($"--{name} needs a value (e.g. --{name} <value>); see rsctl help");
                value = args[++i];
            }
            line._options[name] = value;
        }
        return line;
    }

    /// <summary>An option's value, or null.</summary>
    public string? Option(string name)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) ? v : null;
    }

    /// <summary>Whether a flag is set.</summary>
    public bool Flag(string name) => Option(name) is { } v && v != "false";

    /// <summary>The <paramref name="index"/>-th word, or a usage error naming what is missing.</summary>
    public string Word(int index, string what, string usage) =>
        index < Words.Count ? Words[index] : throw CliException.Usage($"missing {what}; usage: {usage}");

    /// <summary>An integer option, or a usage error.</summary>
    public int? IntOption(string name) =>
        Option(name) is not { } text ? null
        : int.TryParse(text, out var n) && n >= 0 ? n
        : throw CliException.Usage($"--{name} must be a whole number; got '{text}'");

    /// <summary>Refuses options the command did not read and words beyond <paramref name="expectedWords"/>.</summary>
    public void RejectUnknown(int expectedWords, string usage)
    {
        var unknown = _options.Keys.Where(k => !_used.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (unknown.Count > 0)
            throw CliException.Usage($"unknown option --{unknown[0]}; usage: {usage}");
        if (Words.Count > expectedWords)
            throw CliException.Usage($"unexpected argument '{Words[expectedWords]}'; usage: {usage}");
    }
}
