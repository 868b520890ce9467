using System.Text.RegularExpressions;

namespace RetailStreaming.Cli.Tests.Support;

/// <summary>
/// Golden files: what a command printed, with its volatile values (times, ports, ids, secrets,
/// durations) replaced by placeholders and its column padding collapsed, compared with
/// tests/RetailStreaming.Cli.Tests/Golden/&lt;name&gt;.txt. Set RS_UPDATE_GOLDEN=1 to write the
/// files instead (then review the diff).
/// </summary>
public sealed partial class Golden
{
    private readonly List<(string Text, string Placeholder)> _known = [];
    private readonly List<string> _mismatches = [];

    public static bool Updating => Environment.GetEnvironmentVariable("RS_UPDATE_GOLDEN") == "1";

    public static string Directory => Path.Combine(TestNode.RepositoryRoot(), "tests", "RetailStreaming.Cli.Tests", "Golden");

    /// <summary>Replaces <paramref name="text"/> (an id, a path) by <paramref name="placeholder"/> wherever it appears.</summary>
    public Golden Know(string text, string placeholder)
    {
        _known.Add((text, placeholder));
        // Longest first, so that a value containing another is replaced whole.
        _known.Sort((a, b) => b.Text.Length.CompareTo(a.Text.Length));
        return this;
    }

    /// <summary>The output as the golden file holds it.</summary>
    public string Normalize(string output)
    {
        var text = output.ReplaceLineEndings("\n");
        // Secrets first: a secret holds its token's id.
        text = Secret().Replace(text, "<secret>");
        foreach (var (value, placeholder) in _known) text = text.Replace(value, placeholder, StringComparison.Ordinal);
        text = Time().Replace(text, "<time>");
        text = Port().Replace(text, "127.0.0.1:<port>");
        text = Duration().Replace(text, "<n> $1");
        // Column widths follow the volatile values: compare the cells, not their padding.
        text = ColumnGap().Replace(text, " | ");
        text = DetailGap().Replace(text, "$1 ");
        return string.Join('\n', text.Split('\n').Select(l => l.TrimEnd()));
    }

    /// <summary>Compares (or, when updating, writes) one golden file; a mismatch is reported by <see cref="AssertAll"/>.</summary>
    public void Check(string name, string output)
    {
        var actual = Normalize(output);
        var path = Path.Combine(Directory, name + ".txt");
        if (Updating)
        {
            System.IO.Directory.CreateDirectory(Directory);
            File.WriteAllText(path, actual);
            return;
        }
        if (!File.Exists(path))
        {
            _mismatches.Add($"{name}: no golden file {path} (run with RS_UPDATE_GOLDEN=1). Output:\n{actual}");
            return;
        }
        var expected = File.ReadAllText(path).ReplaceLineEndings("\n");
        if (expected != actual)
            _mismatches.Add($"{name}: differs from {path}\n--- expected\n{expected}\n--- actual\n{actual}");
    }

    /// <summary>Fails with every mismatch seen.</summary>
    public void AssertAll()
    {
        if (_mismatches.Count > 0)
            throw new Xunit.Sdk.XunitException($"{_mismatches.Count} golden file(s) differ:\n\n" + string.Join("\n\n", _mismatches));
    }

    [GeneratedRegex(@"rst_[A-Za-z0-9_-]{20,}")]
    private static partial Regex Secret();

    [GeneratedRegex(@"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")]
    private static partial Regex Time();

    [GeneratedRegex(@"127\.0\.0\.1:\d+")]
    private static partial Regex Port();

    [GeneratedRegex(@"\b\d+(?:\.\d+)? (ms|s)\b")]
    private static partial Regex Duration();

    [GeneratedRegex(@"[ ]*\|[ ]*")]
    private static partial Regex ColumnGap();

    [GeneratedRegex(@"^([A-Z][A-Za-z ]*:)[ ]+", RegexOptions.Multiline)]
    private static partial Regex DetailGap();
}
