using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetailStreaming.Cli.Output;
using RetailStreaming.TransformHost;
using RetailStreaming.Transforms;
using RetailStreaming.Transforms.Testing;

namespace RetailStreaming.Cli.Commands;

/// <summary>
/// <c>rsctl regress</c>: would this build make what each workflow's transform made? On a node: every
/// active workflow's recorded samples run through the version it runs (POST /api/regress). Offline
/// (<c>--samples</c>): sample files kept in the repository (fixture format) run through a package, as
/// CI does with the sample workflows. <c>--export</c> writes a workflow's recorded samples as such files.
/// </summary>
internal static class RegressCommands
{
    private const string Usage =
        "rsctl regress [--workflow <id>] [--json] | rsctl regress --workflow <id> --export <dir> | " +
        "rsctl regress --samples <dir> --package <project dir|.csproj|.nupkg> [--type T] [--update] [--json]";

    private static readonly JsonSerializerOptions LineJson = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task<int> RunAsync(Session s)
    {
        var workflow = s.Line.Option("workflow");
        var samples = s.Line.Option("samples");
        var export = s.Line.Option("export");
        if (samples is not null) return await OfflineAsync(s, samples);
        if (export is not null) return await ExportAsync(s, workflow ?? throw CliException.Usage($"--export needs --workflow <id>; usage: {Usage}"), export);
        ClusterCommands.Done(s, 1, Usage);

        var path = "/api/regress" + (workflow is null ? "" : "?workflow=" + Uri.EscapeDataString(workflow));
        var answer = AdminClient.Expect(await s.Client.PostJsonAsync(path), "list the workflows with rsctl workflow list");
        if (s.Json) Json.Write(s.Out, answer);
        else Write(s, answer, online: true);
        return answer.Bool("allSame") ? ExitCodes.Ok : ExitCodes.Failed;
    }

    /// <summary>The report as tables: one line per workflow, then each workflow's first differences.</summary>
    private static void Write(Session s, JsonElement answer, bool online)
    {
        var workflows = answer.Get("workflows").Items().ToList();
        var table = online
            ? new Table("WORKFLOW", "PACKAGE", "VERSION", "SAMPLES", "SAME", "DIFFERENT", "FAILED", "OTHER VERSIONS")
            : new Table("SAMPLES SET", "PACKAGE", "VERSION", "SAMPLES", "SAME", "DIFFERENT", "FAILED");
        foreach (var w in workflows)
        {
            string?[] cells = [w.Text("workflowId"), w.Text("transformPackage") ?? "-", w.Text("transformVersion") ?? "-",
                w.Text("samples"), w.Text("same"), w.Text("different"), w.Text("failed")];
            table.Add(online ? [.. cells, w.Text("otherVersions")] : cells);
        }
        var total = answer.Get("samples").GetInt32();
        var verdict = answer.Bool("allSame") ? "all same" : "DIFFERENCES: see below";
        table.Write(s.Out, $"Count: {table.Count} {(online ? "workflow(s)" : "samples set(s)")}, {total} sample(s) run: {verdict}");
        foreach (var w in workflows)
        {
            if (w.Text("error") is { } error)
            {
                s.Out.WriteLine();
                s.Out.WriteLine($"{w.Text("workflowId")}: not checked: {error}");
            }
            var differences = w.Get("differences").Items().ToList();
            if (differences.Count == 0) continue;
            s.Out.WriteLine();
            var diffs = new Table("POSITION", "TABLE", "OPERATION", "KEY", "KIND", "DIFF");
            foreach (var d in differences)
                diffs.Add(d.Text("position"), d.Text("table"), d.Text("operation"), d.Text("key"), d.Text("kind"), d.Text("diff"));
            var counted = w.Get("different").GetInt32() + w.Get("failed").GetInt32();
            diffs.Write(s.Out, $"{w.Text("workflowId")}: first {diffs.Count} of {counted} difference(s), recorded vs now");
        }
        if (online && workflows.Any(w => w.Get("otherVersions").GetInt32() > 0))
        {
            s.Out.WriteLine();
            s.Out.WriteLine("OTHER VERSIONS: samples recorded by another version of the transform than the one the workflow runs now; not run.");
        }
    }

    /// <summary>Writes a workflow's samples of the version it runs as fixture files: &lt;dir&gt;/&lt;id&gt;/samples.input.ndjson, .expected.ndjson, settings.json.</summary>
    private static async Task<int> ExportAsync(Session s, string workflow, string dir)
    {
        ClusterCommands.Done(s, 1, Usage);
        var answer = AdminClient.Expect(await s.Client.GetAsync("/api/regress/samples?workflow=" + Uri.EscapeDataString(workflow)),
            "list the workflows with rsctl workflow list");
        var version = answer.Text("transformVersion");
        var package = answer.Text("transformPackage");
        var mine = answer.Get("samples").Items()
            .Where(x => string.Equals(x.Text("transformVersion"), version, StringComparison.OrdinalIgnoreCase)
                        && string.Equals(x.Text("transformPackage"), package, StringComparison.OrdinalIgnoreCase))
            .ToList();
        if (mine.Count == 0)
            throw new CliException(ExitCodes.Failed, $"workflow {workflow} has no recorded samples of the version it runs ({package} {version}) yet");

        var folder = Path.Combine(Path.GetFullPath(dir, s.Env.WorkingDirectory), workflow);
        Directory.CreateDirectory(folder);
        var input = new StringBuilder();
        var expected = new StringBuilder();
        var line = 0;
        foreach (var sample in mine)
        {
            line++;
            input.Append(sample.Get("input").GetRawText()).Append('\n');
            var index = 0;
            foreach (var output in sample.Get("outputs").Items())
            {
                var entry = new JsonObject
                {
                    ["input"] = line,
                    ["output"] = index++,
                    ["type"] = output.Text("type"),
                    ["key"] = output.Text("key"),
                    ["payload"] = JsonNode.Parse(output.Get("payload").GetRawText()),
                };
                expected.Append(entry.ToJsonString(LineJson)).Append('\n');
            }
        }
        var settings = new JsonObject();
        if (answer.Get("settings") is { ValueKind: JsonValueKind.Object } given)
            foreach (var p in given.EnumerateObject()) settings[p.Name] = p.Value.GetString();
        await File.WriteAllTextAsync(Path.Combine(folder, "samples" + TransformFixtures.InputSuffix), input.ToString());
        await File.WriteAllTextAsync(Path.Combine(folder, "samples" + TransformFixtures.ExpectedSuffix), expected.ToString());
        await File.WriteAllTextAsync(Path.Combine(folder, "settings.json"), settings.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        s.Out.WriteLine($"wrote {mine.Count} sample(s) of {package} {version} to {Path.GetRelativePath(s.Env.WorkingDirectory, folder)} " +
                        $"(samples.input.ndjson, samples.expected.ndjson, settings.json); review them before committing: they hold the client's data");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Runs sample files (fixture format) through a package, loaded as a node loads it, and reports per
    /// samples set (each folder holding input files) as the online report does.
    /// </summary>
    private static async Task<int> OfflineAsync(Session s, string samples)
    {
        var target = s.Line.Option("package") ?? throw CliException.Usage($"--samples needs --package; usage: {Usage}");
        var typeName = s.Line.Option("type");
        var update = s.Line.Flag("update");
        ClusterCommands.Done(s, 1, Usage);
        var root = Path.GetFullPath(samples, s.Env.WorkingDirectory);
        if (!Directory.Exists(root))
            throw new CliException(ExitCodes.Failed, $"the samples folder {root} does not exist");

        var work = Path.Combine(Path.GetTempPath(), $"rsctl-regress-{Guid.NewGuid():N}");
        var loaded = new List<LoadedTransform>();
        try
        {
            var (identity, _, result) = await TransformCommands.RunFixturesAsync(
                s, Path.GetFullPath(target, s.Env.WorkingDirectory), root, typeName, update, work, loaded);
            var sets = result.Fixtures
                .GroupBy(f => f.Name.Contains('/') ? f.Name[..f.Name.LastIndexOf('/')] : f.Name)
                .Select(g => SetReport(g.Key, identity, g.ToList()))
                .ToList();
            var answer = JsonSerializer.SerializeToElement(new
            {
                allSame = sets.All(r => r.Different == 0 && r.Failed == 0 && r.Error is null),
                samples = sets.Sum(r => r.Samples),
                workflows = sets,
            }, JsonSerializerOptions.Web);
            if (s.Json) Json.Write(s.Out, answer);
            else if (update) s.Out.Write(result.Report.Replace(root, Path.GetRelativePath(s.Env.WorkingDirectory, root), StringComparison.Ordinal));
            else Write(s, answer, online: false);
            return answer.Bool("allSame") ? ExitCodes.Ok : ExitCodes.Failed;
        }
        finally
        {
            foreach (var transform in loaded) transform.Dispose();
            try { Directory.Delete(work, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* a temp folder: best effort */ }
        }
    }

    private sealed record OfflineDifference(string Position, string Table, string Operation, string Key, string Kind, string Diff);

    private sealed record OfflineReport(string WorkflowId, string TransformPackage, string TransformVersion, int Samples, int Same,
        int Different, int Failed, int OtherVersions, string? Error, IReadOnlyList<OfflineDifference> Differences);

    /// <summary>One samples set's counts: a change is different when any of its records differs, failed when the package refused it.</summary>
    private static OfflineReport SetReport(string name, TransformPackageIdentity identity, List<FixtureResult> fixtures)
    {
        int samples = 0, different = 0, failed = 0;
        string? error = null;
        var differences = new List<OfflineDifference>();
        foreach (var fixture in fixtures)
        {
            samples += fixture.Changes;
            if (fixture.Differences.FirstOrDefault(d => d.InputLine == 0) is { } whole)
            {
                error = whole.ToString();
                failed += fixture.Changes;
                continue;
            }
            var changes = File.ReadLines(fixture.InputFile)
                .Select((text, i) => (Line: i + 1, Text: text))
                .Where(l => !string.IsNullOrWhiteSpace(l.Text))
                .ToDictionary(l => l.Line, l => ChangeEventJson.Deserialize(l.Text));
            foreach (var line in fixture.Differences.GroupBy(d => d.InputLine))
            {
                // An error where a record was recorded: the package refused the change.
                var refused = line.Any(d => d.Field == "error" && d.Actual is ['"', ..]);
                if (refused) failed++; else different++;
                if (differences.Count >= 20) continue;
                var diff = string.Join("; ", line.Select(d =>
                    $"{(d.Record is { } r && line.Select(x => x.Record).Distinct().Count() > 1 ? $"[{r}]." : "")}{d.Field}: recorded {d.Expected ?? "nothing"}, now {d.Actual ?? "nothing"}"));
                // An expected line may name an input line that holds no change (a hand-edited file).
                var kind = refused ? "failed" : "different";
                differences.Add(changes.TryGetValue(line.Key, out var change)
                    ? new OfflineDifference(change.Position.Value, change.Table, change.Operation.ToString().ToLowerInvariant(),
                        ChangeEventJson.RowToJson(change.Key).ToJsonString(), kind, diff)
                    : new OfflineDifference($"input line {line.Key}", "-", "-", "-", kind, diff));
            }
        }
        return new OfflineReport(name, identity.Id, identity.Version, samples, samples - different - failed, different, failed, 0, error, differences);
    }
}
