using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RetailStreaming.Transforms.Testing;

/// <summary>
/// Runs a transform over fixture files and compares its records with expected files, as a unit
/// test of any framework: <c>TransformFixtures.Verify&lt;MyTransform&gt;("fixtures")</c> throws a
/// <see cref="TransformTestFailedException"/> whose message is the diff; <c>Run</c> returns the
/// result instead.
/// </summary>
/// <remarks>
/// <para>A fixture is a pair of files in the fixture folder (or below it):
/// <c>&lt;name&gt;.input.ndjson</c>, one change event per line as <see cref="ChangeEventJson"/> writes
/// it (the JSON of a dead letter's input), and <c>&lt;name&gt;.expected.ndjson</c>, one line per
/// record the transform must produce, in order:
/// <c>{"input":3,"output":0,"type":"sale","key":"T-1","payload":{...}}</c>, where <c>input</c> is the
/// line of the change in the input file and <c>output</c> the record's index among that change's
/// records; or, for a change the transform must refuse (a dead letter on the platform),
/// <c>{"input":4,"error":"System.InvalidOperationException: ..."}</c>. A change that produces no
/// record has no line. Optional settings (the workflow's <c>transform.settings</c>) come from
/// <c>&lt;name&gt;.settings.json</c>, else <c>settings.json</c> beside the input: a flat JSON object.</para>
/// <para>Each fixture gets a new transform instance, initialized once, then called for each change
/// in file order, as the platform does for one workflow. Payloads are compared as JSON values
/// (object member order does not matter; numbers compare by value, so <c>12.50</c> equals <c>12.5</c>).</para>
/// </remarks>
public static class TransformFixtures
{
    /// <summary>The suffix of an input file.</summary>
    public const string InputSuffix = ".input.ndjson";

    /// <summary>The suffix of an expected file.</summary>
    public const string ExpectedSuffix = ".expected.ndjson";

    private static readonly JsonSerializerOptions LineJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Runs a new <typeparamref name="T"/> per fixture; throws <see cref="TransformTestFailedException"/> on any difference.</summary>
    public static TransformTestResult Verify<T>(string fixtureDirectory, TransformTestOptions? options = null) where T : ITransform, new() =>
        Run(() => new T(), fixtureDirectory, options).ThrowIfFailed();

    /// <summary>Runs the transform <paramref name="create"/> makes (once per fixture); throws <see cref="TransformTestFailedException"/> on any difference.</summary>
    public static TransformTestResult Verify(Func<ITransform> create, string fixtureDirectory, TransformTestOptions? options = null) =>
        Run(create, fixtureDirectory, options).ThrowIfFailed();

    /// <summary>Runs a new <typeparamref name="T"/> per fixture and returns the result.</summary>
    public static TransformTestResult Run<T>(string fixtureDirectory, TransformTestOptions? options = null) where T : ITransform, new() =>
        Run(() => new T(), fixtureDirectory, options);

    /// <summary>
    /// Runs the transform <paramref name="create"/> makes (once per fixture) over every fixture of
    /// <paramref name="fixtureDirectory"/> and returns the result (or, in update mode, writes the
    /// expected files).
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">The folder holds no <c>*.input.ndjson</c> file.</exception>
    /// <exception cref="FixtureFormatException">A fixture file cannot be read; the message names the file and line.</exception>
    public static TransformTestResult Run(Func<ITransform> create, string fixtureDirectory, TransformTestOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(create);
        ArgumentException.ThrowIfNullOrWhiteSpace(fixtureDirectory);
        options ??= new TransformTestOptions();
        var root = Path.GetFullPath(fixtureDirectory);
        if (!Directory.Exists(root))
            throw new DirectoryNotFoundException($"The fixture folder {root} does not exist.");
        var inputs = Directory.EnumerateFiles(root, "*" + InputSuffix, SearchOption.AllDirectories)
            .Order(StringComparer.Ordinal)
            .ToList();
        if (inputs.Count == 0)
            throw new FileNotFoundException(
                $"The fixture folder {root} holds no *{InputSuffix} file (one change event per line, as ChangeEventJson writes them).");

        var results = inputs.Select(input => RunFixture(create, root, input, options)).ToList();
        return new TransformTestResult(root, results, options.MaxReportedDifferencesPerFixture);
    }

    private static FixtureResult RunFixture(Func<ITransform> create, string root, string inputFile, TransformTestOptions options)
    {
        var name = Path.GetRelativePath(root, inputFile)[..^InputSuffix.Length].Replace('\\', '/');
        var expectedFile = inputFile[..^InputSuffix.Length] + ExpectedSuffix;
        var changes = ReadChanges(inputFile);
        var settings = ReadSettings(inputFile, options);
        var context = new TransformContext(options.WorkflowId, options.ClientId, options.TransformVersion, settings, options.Logger);

        var transform = create() ?? throw new InvalidOperationException("The transform factory returned null.");
        try
        {
            try
            {
                transform.Initialize(context);
            }
            catch (Exception e)
            {
                return new FixtureResult(name, inputFile, expectedFile, changes.Count, 0, 0,
                    [new FixtureDifference(name, 0, null, null, null, "initialize", null, Quote($"Initialize threw {Describe(e)}"))], false);
            }

            var actual = new List<Entry>();
            foreach (var (line, change) in changes)
                actual.AddRange(Transform(transform, context, line, change));
            var records = actual.Count(a => a.Error is null);
            var errors = actual.Count(a => a.Error is not null);

            if (options.UpdateExpected)
            {
                WriteExpected(expectedFile, actual);
                return new FixtureResult(name, inputFile, expectedFile, changes.Count, records, errors, [], true);
            }
            if (!File.Exists(expectedFile))
                return new FixtureResult(name, inputFile, expectedFile, changes.Count, records, errors,
                    [new FixtureDifference(name, 0, null, null, null, "file", expectedFile, null)], false);

            var expected = ReadExpected(expectedFile);
            var describe = changes.ToDictionary(c => c.Line, c => $"{c.Change.Table} {c.Change.Operation.ToString().ToLowerInvariant()} at {c.Change.Position}");
            var differences = Compare(name, expected, actual, describe);
            return new FixtureResult(name, inputFile, expectedFile, changes.Count, records, errors, differences, false);
        }
        finally
        {
            (transform as IDisposable)?.Dispose();
        }
    }

    /// <summary>One expected or actual line: a record, or an error for a refused change.</summary>
    private sealed record Entry(int Input, int? Output, string? Type, string? Key, JsonNode? Payload, string? Error, int FileLine)
    {
        public JsonObject ToJson() => Error is not null
            ? new JsonObject { ["input"] = Input, ["error"] = Error }
            : new JsonObject { ["input"] = Input, ["output"] = Output, ["type"] = Type, ["key"] = Key, ["payload"] = Payload?.DeepClone() };

        public string Text => ToJson().ToJsonString(LineJson);
    }

    private static IEnumerable<Entry> Transform(ITransform transform, TransformContext context, int line, ChangeEvent change)
    {
        // As the platform does: the sequence is enumerated inside the call, a record the endpoint
        // could not take is an invalid output, and a refused change yields no record at all.
        var outputs = new List<Entry>();
        try
        {
            var result = transform.Transform(change, context);
            if (result is null) return [Error(line, "invalid output: the transform returned null instead of a sequence of records")];
            foreach (var record in result)
            {
                var index = outputs.Count;
                if (record is null) return [Error(line, $"invalid output: record {index} is null")];
                if (string.IsNullOrEmpty(record.Type)) return [Error(line, $"invalid output: record {index} has an empty type")];
                if (string.IsNullOrEmpty(record.Key)) return [Error(line, $"invalid output: record {index} has an empty key")];
                if (record.Payload is null) return [Error(line, $"invalid output: record {index} has a null payload")];
                JsonNode? payload;
                try
                {
                    // A detached copy, as delivered: later changes to the node by the transform do not count.
                    payload = JsonNode.Parse(record.Payload.ToJsonString());
                }
                catch (Exception e) when (e is JsonException or InvalidOperationException or NotSupportedException)
                {
                    return [Error(line, $"invalid output: record {index}'s payload cannot be written as JSON: {e.Message}")];
                }
                outputs.Add(new Entry(line, index, record.Type, record.Key, payload, null, 0));
            }
        }
        catch (Exception e)
        {
            return [Error(line, Describe(e))];
        }
        return outputs;

        static Entry Error(int line, string error) => new(line, null, null, null, null, error, 0);
    }

    private static string Describe(Exception e) => $"{e.GetType().FullName}: {e.Message}";

    private static List<(int Line, ChangeEvent Change)> ReadChanges(string file)
    {
        var changes = new List<(int, ChangeEvent)>();
        var number = 0;
        foreach (var text in File.ReadLines(file))
        {
            number++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            try
            {
                changes.Add((number, ChangeEventJson.Deserialize(text)));
            }
            catch (FormatException e)
            {
                var json = e.InnerException as JsonException;
                throw new FixtureFormatException(file, number, json?.BytePositionInLine is { } column ? (int)column + 1 : null,
                    $"not a change event: {e.Message}", e);
            }
            catch (ArgumentException e)
            {
                throw new FixtureFormatException(file, number, null, $"not a change event: {e.Message}", e);
            }
        }
        return changes;
    }

    private static List<Entry> ReadExpected(string file)
    {
        var entries = new List<Entry>();
        var number = 0;
        foreach (var text in File.ReadLines(file))
        {
            number++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonObject o;
            try
            {
                o = JsonNode.Parse(text) as JsonObject
                    ?? throw new FixtureFormatException(file, number, 1, "an expected line must be a JSON object");
            }
            catch (JsonException e)
            {
                throw new FixtureFormatException(file, number, e.BytePositionInLine is { } c ? (int)c + 1 : null, $"not JSON: {e.Message}", e);
            }
            int input = o["input"] is JsonValue iv && iv.TryGetValue<int>(out var i) && i > 0
                ? i
                : throw new FixtureFormatException(file, number, null, "field 'input': the line of the change in the input file (a positive number) is missing");
            if (o["error"] is JsonValue ev && ev.TryGetValue<string>(out var error))
            {
                entries.Add(new Entry(input, null, null, null, null, error, number));
                continue;
            }
            string Text(string field) => o[field] is JsonValue v && v.TryGetValue<string>(out var s)
                ? s
                : throw new FixtureFormatException(file, number, null, $"field '{field}': a string is required (or give 'error' for a refused change)");
            int? output = o["output"] is JsonValue ov && ov.TryGetValue<int>(out var n) ? n : null;
            if (!o.ContainsKey("payload"))
                throw new FixtureFormatException(file, number, null, "field 'payload' is missing");
            entries.Add(new Entry(input, output, Text("type"), Text("key"), o["payload"]?.DeepClone(), null, number));
        }
        return entries;
    }

    private static IReadOnlyDictionary<string, string> ReadSettings(string inputFile, TransformTestOptions options)
    {
        var own = inputFile[..^InputSuffix.Length] + ".settings.json";
        var shared = Path.Combine(Path.GetDirectoryName(inputFile)!, "settings.json");
        var file = File.Exists(own) ? own : File.Exists(shared) ? shared : null;
        if (file is null) return options.Settings;
        JsonObject o;
        try
        {
            o = JsonNode.Parse(File.ReadAllText(file)) as JsonObject
                ?? throw new FixtureFormatException(file, 1, 1, "settings must be a JSON object of names and values");
        }
        catch (JsonException e)
        {
            throw new FixtureFormatException(file, (int)(e.LineNumber ?? 0) + 1, e.BytePositionInLine is { } c ? (int)c + 1 : null, $"not JSON: {e.Message}", e);
        }
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in o)
        {
            settings[key] = value switch
            {
                JsonValue v when v.TryGetValue<string>(out var s) => s,
                JsonValue v => v.ToJsonString(),
                _ => throw new FixtureFormatException(file, 1, null, $"setting '{key}': a string, number or boolean is required (settings are flat, as in the workflow definition)"),
            };
        }
        return settings;
    }

    private static void WriteExpected(string file, List<Entry> actual)
    {
        var text = new StringBuilder();
        foreach (var entry in actual) text.Append(entry.Text).Append('\n');
        // Through a temporary file: a failed write never leaves half an expected file behind.
        var temp = file + ".tmp";
        File.WriteAllText(temp, text.ToString(), new UTF8Encoding(false));
        File.Move(temp, file, overwrite: true);
    }

    private static List<FixtureDifference> Compare(string fixture, List<Entry> expected, List<Entry> actual, Dictionary<int, string> changes)
    {
        var differences = new List<FixtureDifference>();
        var byInput = expected.GroupBy(e => e.Input).ToDictionary(g => g.Key, g => g.ToList());
        var actualByInput = actual.GroupBy(a => a.Input).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var input in byInput.Keys.Union(actualByInput.Keys).Order())
        {
            var want = byInput.GetValueOrDefault(input) ?? [];
            var got = actualByInput.GetValueOrDefault(input) ?? [];
            var change = changes.TryGetValue(input, out var c) ? c : "no such change in the input file";
            for (var i = 0; i < Math.Max(want.Count, got.Count); i++)
            {
                var e = i < want.Count ? want[i] : null;
                var a = i < got.Count ? got[i] : null;
                FixtureDifference Difference(string field, string? wanted, string? actualValue) =>
                    new(fixture, input, change, e?.FileLine, a?.Output ?? e?.Output ?? i, field, wanted, actualValue);

                if (e is null || a is null)
                {
                    differences.Add(Difference("record", e?.Text, a?.Text));
                    continue;
                }
                if (e.Error is not null || a.Error is not null)
                {
                    if (e.Error != a.Error)
                        differences.Add(Difference("error", e.Error is null ? e.Text : Quote(e.Error), a.Error is null ? a.Text : Quote(a.Error)));
                    continue;
                }
                if (e.Output is { } o && o != a.Output)
                    differences.Add(Difference("output", o.ToString(), a.Output?.ToString()));
                if (e.Type != a.Type) differences.Add(Difference("type", Quote(e.Type), Quote(a.Type)));
                if (e.Key != a.Key) differences.Add(Difference("key", Quote(e.Key), Quote(a.Key)));
                foreach (var (path, wanted, actualValue) in JsonDiff.Differences("payload", e.Payload, a.Payload))
                    differences.Add(Difference(path, wanted, actualValue));
            }
        }
        return differences;
    }

    private static string Quote(string? text) => text is null ? "null" : JsonSerializer.Serialize(text, LineJson);
}
