using System.Text;

namespace RetailStreaming.Transforms.Testing;

/// <summary>One way in which what the transform produced differs from a fixture's expected file.</summary>
/// <param name="Fixture">The fixture's name (its input file's path under the fixture folder, without <c>.input.ndjson</c>).</param>
/// <param name="InputLine">The line of the input file holding the change (0 when the difference is not about one change).</param>
/// <param name="Change">The change in a few words (<c>tickets insert at sqlite:…</c>), or null.</param>
/// <param name="ExpectedLine">The line of the expected file, when one is involved.</param>
/// <param name="Record">The record's index among the change's outputs, when one is involved.</param>
/// <param name="Field">What differs: <c>type</c>, <c>key</c>, a payload path (<c>payload.lines[0].sku</c>), <c>error</c>, <c>record</c> (missing or extra), <c>file</c>, <c>initialize</c>.</param>
/// <param name="Expected">The expected value (JSON), or null when nothing was expected.</param>
/// <param name="Actual">The actual value (JSON), or null when nothing came.</param>
public sealed record FixtureDifference(
    string Fixture,
    int InputLine,
    string? Change,
    int? ExpectedLine,
    int? Record,
    string Field,
    string? Expected,
    string? Actual)
{
    /// <summary>One line: where, which field, expected vs actual.</summary>
    public override string ToString()
    {
        var where = new StringBuilder();
        if (InputLine > 0) where.Append("input line ").Append(InputLine);
        if (Change is not null) where.Append(" (").Append(Change).Append(')');
        if (Record is not null) where.Append(where.Length > 0 ? ", " : "").Append("record ").Append(Record);
        if (ExpectedLine is not null) where.Append(where.Length > 0 ? ", " : "").Append("expected line ").Append(ExpectedLine);
        if (Field == "file")
            return $"no expected file {Expected}; run in update mode ({TransformTestOptions.UpdateVariable}=1, or rsctl transform test --update) to write it, then review it";
        var what = (Expected, Actual) switch
        {
            (null, null) => "",
            (null, _) when Field == "record" => $"unexpected record {Actual}",
            (_, null) when Field == "record" => $"missing record {Expected}",
            (null, _) => $"{Field}: not expected, actual {Actual}",
            (_, null) => $"{Field}: expected {Expected}, actual nothing",
            _ => $"{Field}: expected {Expected}, actual {Actual}",
        };
        return where.Length == 0 ? what : $"{where}: {what}";
    }
}

/// <summary>What one fixture gave.</summary>
/// <param name="Name">The fixture's name.</param>
/// <param name="InputFile">The input file (change events, one per line).</param>
/// <param name="ExpectedFile">The expected file (records and errors, one per line).</param>
/// <param name="Changes">How many changes the input holds.</param>
/// <param name="Records">How many records the transform produced.</param>
/// <param name="Errors">How many changes the transform refused (threw or returned an invalid output): dead letters on the platform.</param>
/// <param name="Differences">Every difference with the expected file (none in update mode).</param>
/// <param name="Updated">True when the expected file was (re)written in update mode.</param>
public sealed record FixtureResult(
    string Name,
    string InputFile,
    string ExpectedFile,
    int Changes,
    int Records,
    int Errors,
    IReadOnlyList<FixtureDifference> Differences,
    bool Updated)
{
    /// <summary>True when the fixture matched its expected file (or it was updated).</summary>
    public bool Passed => Differences.Count == 0;
}

/// <summary>What a run over a fixture folder gave; <see cref="ThrowIfFailed"/> turns a mismatch into a test failure.</summary>
public sealed class TransformTestResult
{
    private readonly int _maxPerFixture;

    internal TransformTestResult(string directory, IReadOnlyList<FixtureResult> fixtures, int maxPerFixture)
    {
        Directory = directory;
        Fixtures = fixtures;
        _maxPerFixture = maxPerFixture;
    }

    /// <summary>The fixture folder.</summary>
    public string Directory { get; }

    /// <summary>Each fixture's result, by name.</summary>
    public IReadOnlyList<FixtureResult> Fixtures { get; }

    /// <summary>True when every fixture matched (or was updated).</summary>
    public bool Passed => Fixtures.All(f => f.Passed);

    /// <summary>Every difference, fixture by fixture.</summary>
    public IEnumerable<FixtureDifference> Differences => Fixtures.SelectMany(f => f.Differences);

    /// <summary>The report for people: a summary line, then each fixture's differences.</summary>
    public string Report
    {
        get
        {
            var text = new StringBuilder();
            var failed = Fixtures.Count(f => !f.Passed);
            var updated = Fixtures.Count(f => f.Updated);
            var changes = Fixtures.Sum(f => f.Changes);
            var records = Fixtures.Sum(f => f.Records);
            var errors = Fixtures.Sum(f => f.Errors);
            if (failed == 0)
                text.Append(updated > 0
                    ? $"Updated {updated} expected file(s) in {Directory}: {changes} change(s), {records} record(s), {errors} refused. Review the change before committing it."
                    : $"{Fixtures.Count} fixture(s) passed in {Directory}: {changes} change(s), {records} record(s), {errors} refused as expected.");
            else
                text.Append($"{Differences.Count()} difference(s) in {failed} of {Fixtures.Count} fixture(s) in {Directory}.");
            text.AppendLine();
            foreach (var fixture in Fixtures.Where(f => !f.Passed))
            {
                text.AppendLine();
                text.AppendLine($"{fixture.Name}: {fixture.Differences.Count} difference(s) ({Path.GetFileName(fixture.InputFile)} vs {Path.GetFileName(fixture.ExpectedFile)})");
                foreach (var difference in fixture.Differences.Take(_maxPerFixture))
                    text.AppendLine("  " + difference);
                if (fixture.Differences.Count > _maxPerFixture)
                    text.AppendLine($"  ... and {fixture.Differences.Count - _maxPerFixture} more");
            }
            if (failed > 0)
            {
                text.AppendLine();
                text.AppendLine($"If the new output is right, update the expected files ({TransformTestOptions.UpdateVariable}=1, " +
                                "TransformTestOptions.UpdateExpected, or rsctl transform test --update) and review the diff.");
            }
            return text.ToString();
        }
    }

    /// <summary>Throws <see cref="TransformTestFailedException"/> carrying the <see cref="Report"/> unless every fixture passed.</summary>
    public TransformTestResult ThrowIfFailed() => Passed ? this : throw new TransformTestFailedException(this);

    /// <inheritdoc />
    public override string ToString() => Report;
}

/// <summary>A transform's output differs from its expected files; the message is the diff.</summary>
public sealed class TransformTestFailedException : Exception
{
    /// <summary>Creates the exception from a failed result.</summary>
    public TransformTestFailedException(TransformTestResult result)
        : base(result.Report) => Result = result;

    /// <summary>The result, with every difference.</summary>
    public TransformTestResult Result { get; }
}

/// <summary>A fixture file cannot be read: the message is <c>file:line:column: what is wrong</c>.</summary>
public sealed class FixtureFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    public FixtureFormatException(string file, int line, int? column, string message, Exception? inner = null)
        : base($"{file}:{line}{(column is null ? "" : $":{column}")}: {message}", inner)
    {
        File = file;
        Line = line;
        Column = column;
    }

    /// <summary>The file.</summary>
    public string File { get; }

    /// <summary>The line (1-based).</summary>
    public int Line { get; }

    /// <summary>The column (1-based), when known.</summary>
    public int? Column { get; }
}
