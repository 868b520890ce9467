namespace RetailStreaming.Cli.Output;

/// <summary>
/// A table for people, in pbm's style: one line per row, columns padded to their widest cell and
/// separated by <c> | </c>, a header line, and a count line under it.
/// </summary>
public sealed class Table(params string[] headers)
{
    private readonly List<string[]> _rows = [];

    /// <summary>Adds a row (missing cells are empty).</summary>
    public Table Add(params string?[] cells)
    {
        var row = new string[headers.Length];
        for (var i = 0; i < row.Length; i++) row[i] = i < cells.Length ? cells[i] ?? "" : "";
        _rows.Add(row);
        return this;
    }

    /// <summary>How many rows.</summary>
    public int Count => _rows.Count;

    /// <summary>Writes the header, the rows, then <paramref name="countLine"/> when given.</summary>
    public void Write(TextWriter output, string? countLine)
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, _rows.Count == 0 ? 0 : _rows.Max(r => r[i].Length))).ToArray();
        WriteRow(output, headers, widths);
        foreach (var row in _rows) WriteRow(output, row, widths);
        if (countLine is not null) output.WriteLine(countLine);
    }

    private static void WriteRow(TextWriter output, string[] cells, int[] widths) =>
        output.WriteLine(string.Join(" | ", cells.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
}

/// <summary>A list of "Name: value" lines with the values aligned, for one thing shown in detail.</summary>
public sealed class Details
{
    private readonly List<(string Name, string Value)> _lines = [];

    /// <summary>Adds a line; null values show as "-".</summary>
    public Details Add(string name, string? value)
    {
        _lines.Add((name, string.IsNullOrEmpty(value) ? "-" : value));
        return this;
    }

    /// <summary>Adds a line only when there is a value (a state most workflows never are in).</summary>
    public Details AddWhenSet(string name, string? value) => string.IsNullOrEmpty(value) ? this : Add(name, value);

    /// <summary>Writes the lines.</summary>
    public void Write(TextWriter output)
    {
        var width = _lines.Max(l => l.Name.Length) + 1;
        foreach (var (name, value) in _lines)
            output.WriteLine((name + ":").PadRight(width + 1) + value);
    }
}
