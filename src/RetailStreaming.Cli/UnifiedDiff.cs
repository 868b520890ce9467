namespace RetailStreaming.Cli;

/// <summary>A unified line diff (as <c>diff -u</c> prints it), from the longest common subsequence of the lines.</summary>
public static class UnifiedDiff
{
    private const int Context = 3;

    /// <summary>The diff of <paramref name="before"/> and <paramref name="after"/>; empty when they have the same lines.</summary>
    public static IReadOnlyList<string> Lines(string before, string after, string beforeName, string afterName)
    {
        var a = SplitLines(before);
        var b = SplitLines(after);
        var edits = Edits(a, b);
        if (edits.All(e => e.Kind == ' ')) return [];

        var output = new List<string> { "--- " + beforeName, "+++ " + afterName };
        // Hunks: runs of changes with up to Context unchanged lines around them; close runs merge.
        var i = 0;
        while (i < edits.Count)
        {
            if (edits[i].Kind == ' ')
            {
                i++;
                continue;
            }
            var start = Math.Max(0, i - Context);
            var end = i;
            var lastChange = i;
            while (end < edits.Count)
            {
                if (edits[end].Kind != ' ') lastChange = end;
                else if (end - lastChange > 2 * Context) break;
                end++;
            }
            end = Math.Min(edits.Count, lastChange + Context + 1);
            var hunk = edits.GetRange(start, end - start);
            var aStart = hunk.First().A;
            var bStart = hunk.First().B;
            var aCount = hunk.Count(e => e.Kind != '+');
            var bCount = hunk.Count(e => e.Kind != '-');
            output.Add($"@@ -{Range(aStart, aCount)} +{Range(bStart, bCount)} @@");
            output.AddRange(hunk.Select(e => e.Kind + e.Line));
            i = end;
        }
        return output;
    }

    private static string Range(int start, int count) =>
        count == 1 ? $"{start + 1}" : count == 0 ? $"{start},0" : $"{start + 1},{count}";

    private static string[] SplitLines(string text)
    {
        var lines = text.ReplaceLineEndings("\n").Split('\n');
        // A final newline ends the last line; it does not start an empty one.
        return lines.Length > 0 && lines[^1].Length == 0 ? lines[..^1] : lines;
    }

    /// <summary>Every line of both, in order, marked ' ' (in both), '-' (only before) or '+' (only after), with its line index in each.</summary>
    private static List<(char Kind, string Line, int A, int B)> Edits(string[] a, string[] b)
    {
        // Definitions are short: the quadratic table is fine.
        var lcs = new int[a.Length + 1, b.Length + 1];
        for (var i = a.Length - 1; i >= 0; i--)
            for (var j = b.Length - 1; j >= 0; j--)
                lcs[i, j] = a[i] == b[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);

        var edits = new List<(char, string, int, int)>();
        int x = 0, y = 0;
        while (x < a.Length || y < b.Length)
        {
            if (x < a.Length && y < b.Length && a[x] == b[y])
            {
                edits.Add((' ', a[x], x, y));
                x++;
                y++;
            }
            else if (y < b.Length && (x == a.Length || lcs[x, y + 1] > lcs[x + 1, y]))
            {
                edits.Add(('+', b[y], x, y));
                y++;
            }
            else
            {
                edits.Add(('-', a[x], x, y));
                x++;
            }
        }
        return edits;
    }
}
