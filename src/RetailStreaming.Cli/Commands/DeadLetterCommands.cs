using System.Text.Json;
using RetailStreaming.Cli.Output;

namespace RetailStreaming.Cli.Commands;

/// <summary><c>rsctl dlq list | show | redrive</c>: a workflow's dead letters.</summary>
internal static class DeadLetterCommands
{
    public static async Task<int> RunAsync(Session s)
    {
        var verb = s.Line.Word(1, "a verb", "rsctl dlq list|show|redrive");
        switch (verb)
        {
            case "list":
            {
                const string usage = "rsctl dlq list <workflow-id> [--after ID] [--limit N] [--json]";
                var id = s.Line.Word(2, "the workflow id", usage);
                var after = s.Line.IntOption("after") ?? 0;
                var limit = s.Line.IntOption("limit") ?? 100;
                ClusterCommands.Done(s, 3, usage);
                var letters = AdminClient.Expect(await s.Client.GetAsync(
                    $"/api/workflows/{Uri.EscapeDataString(id)}/dead-letters?after={after}&limit={limit}"), "list them with rsctl workflow list");
                if (s.Json)
                {
                    Json.Write(s.Out, letters);
                    return ExitCodes.Ok;
                }
                var table = new Table("ENTRY", "STAGE", "POSITION", "TRANSFORM", "CREATED", "STATE", "REASON");
                foreach (var d in letters.Items())
                    table.Add(d.Text("id"), d.Text("stage"), d.Text("position"), d.Text("transformVersion"), d.Time("createdAt"), State(d), Json.Cell(d.Text("reason"), 60));
                table.Write(s.Out, $"Count: {table.Count} dead letter(s) of {id}" +
                    (table.Count == limit ? $"; more with --after {letters.Items().Last().Text("id")}" : ""));
                return ExitCodes.Ok;
            }
            case "show":
            {
                const string usage = "rsctl dlq show <workflow-id> <entry> [--json]";
                var id = s.Line.Word(2, "the workflow id", usage);
                var entry = s.Line.Word(3, "the entry id (see rsctl dlq list)", usage);
                if (!long.TryParse(entry, out _))
                    throw CliException.Usage($"the entry id is a number (see rsctl dlq list {id}); got '{entry}'");
                ClusterCommands.Done(s, 4, usage);
                var response = await s.Client.GetAsync($"/api/workflows/{Uri.EscapeDataString(id)}/dead-letters/{entry}");
                var d = AdminClient.Expect(response,
                    response.Body.Text("error") == "no such workflow" ? "list them with rsctl workflow list" : $"list them with rsctl dlq list {id}");
                if (s.Json)
                {
                    Json.Write(s.Out, d);
                    return ExitCodes.Ok;
                }
                new Details()
                    .Add("Entry", d.Text("id"))
                    .Add("Workflow", d.Text("workflowId"))
                    .Add("Client", d.Text("clientId"))
                    .Add("Stage", d.Text("stage"))
                    .Add("Position", d.Text("position"))
                    .Add("Output index", d.Text("outputIndex"))
                    .Add("Transform", d.Text("transformVersion"))
                    .Add("Created", d.Time("createdAt"))
                    .Add("Reason", d.Text("reason"))
                    .Add("State", State(d))
                    .Add("Superseded", d.Get("superseded") is { ValueKind: JsonValueKind.Object } sup
                        ? $"by position {sup.Text("byPosition")} (seen {sup.Time("at")}): a redrive skips it unless --force"
                        : null)
                    .Add("Redriven", d.Get("redrive") is { ValueKind: JsonValueKind.Object } r
                        ? $"{r.Time("at")}: {r.Text("outcome")}" + (r.Text("transformVersion") is { } v ? $", transform {v}" : "") + $" ({r.Text("count")} redrive(s))"
                        : null)
                    .Write(s.Out);
                var attempts = d.Get("attempts").Items().ToList();
                s.Out.WriteLine($"Attempts: {attempts.Count}");
                if (attempts.Count > 0)
                {
                    var table = new Table("#", "AT", "STATUS", "DETAIL");
                    var n = 0;
                    foreach (var a in attempts)
                        table.Add((++n).ToString(System.Globalization.CultureInfo.InvariantCulture), a.Time("at"), a.Text("statusCode") ?? "-", Json.Cell(a.Text("detail"), 100));
                    table.Write(new IndentedWriter(s.Out), null);
                }
                s.Out.WriteLine("Input:");
                s.Out.WriteLine(Indent(d.Text("inputJson")));
                if (d.Text("outputJson") is { } output)
                {
                    s.Out.WriteLine("Output:");
                    s.Out.WriteLine(Indent(output));
                }
                return ExitCodes.Ok;
            }
            case "redrive":
                return await RedriveAsync(s);
            default:
                throw CliException.Usage($"unknown verb 'dlq {verb}'; use list, show or redrive");
        }
    }

    private const string RedriveUsage =
        "rsctl dlq redrive <workflow-id> (<entry>... | --all | --filter stage=S,table=T,from=ID,to=ID) [--force] [--limit N] [--json]";

    private static async Task<int> RedriveAsync(Session s)
    {
        var id = s.Line.Word(2, "the workflow id", RedriveUsage);
        var entries = new List<long>();
        for (var i = 3; i < s.Line.Words.Count; i++)
            entries.Add(long.TryParse(s.Line.Words[i], out var entry) && entry > 0
                ? entry
                : throw CliException.Usage($"an entry id is a number (see rsctl dlq list {id}); got '{s.Line.Words[i]}'"));
        var all = s.Line.Flag("all");
        var filterText = s.Line.Option("filter");
        var force = s.Line.Flag("force");
        var limit = s.Line.IntOption("limit");
        ClusterCommands.Done(s, 3 + entries.Count, RedriveUsage);
        if ((entries.Count > 0 ? 1 : 0) + (all ? 1 : 0) + (filterText is null ? 0 : 1) != 1)
            throw CliException.Usage($"give entries, --all or --filter (one of them); usage: {RedriveUsage}");

        var response = await s.Client.PostJsonAsync($"/api/workflows/{Uri.EscapeDataString(id)}/dead-letters/redrive", new
        {
            entries = entries.Count > 0 ? entries : null,
            all,
            filter = filterText is null ? null : ParseFilter(filterText),
            force,
            limit,
        });
        var result = AdminClient.Expect(response,
            response.Body.Text("error") == "no such workflow" ? "list them with rsctl workflow list" : $"list them with rsctl dlq list {id}");
        var failed = result.Get("failed").ValueKind == JsonValueKind.Number && result.Get("failed").GetInt32() > 0;
        if (s.Json)
        {
            Json.Write(s.Out, result);
            return failed ? ExitCodes.Failed : ExitCodes.Ok;
        }
        var table = new Table("ENTRY", "OUTCOME", "TRANSFORM", "IDEMPOTENCY KEY", "DETAIL");
        foreach (var r in result.Get("results").Items())
            table.Add(r.Text("entryId"), r.Text("outcome"), r.Text("transformVersion"),
                string.Join(" ", r.Get("idempotencyKeys").Items().Select(k => k.GetString())), Json.Cell(r.Text("detail"), 200));
        table.Write(s.Out, $"Redrive of {id}: {result.Text("delivered")} delivered, {result.Text("failed")} failed, {result.Text("skipped")} skipped" +
            (result.Bool("more") ? "; more dead letters match: run it again" : "") +
            (result.Text("skipped") != "0" && !force ? "; --force sends superseded ones anyway" : ""));
        return failed ? ExitCodes.Failed : ExitCodes.Ok;
    }

    /// <summary><c>stage=delivery,table=products,from=10,to=20</c> as the API's filter.</summary>
    private static Dictionary<string, object> ParseFilter(string text)
    {
        var filter = new Dictionary<string, object>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            var (name, value) = eq > 0 ? (part[..eq].Trim(), part[(eq + 1)..].Trim()) : (part, "");
            if (value.Length == 0)
                throw CliException.Usage($"--filter: '{part}' is not name=value; names: stage, table, from, to");
            filter[name] = name switch
            {
                "stage" when value is "transform" or "delivery" => value,
                "stage" => throw CliException.Usage($"--filter: stage is transform or delivery; got '{value}'"),
                "table" => value,
                "from" or "to" when long.TryParse(value, out var n) && n > 0 => n,
                "from" or "to" => throw CliException.Usage($"--filter: {name} is an entry id (a number); got '{value}'"),
                _ => throw CliException.Usage($"--filter: unknown criterion '{name}'; use stage, table, from, to"),
            };
        }
        if (filter.Count == 0)
            throw CliException.Usage("--filter needs at least one criterion: stage=, table=, from=, to=");
        return filter;
    }

    /// <summary>Where a dead letter stands: open, superseded, redriven (delivered) or redrive failed.</summary>
    private static string State(JsonElement d) =>
        d.Get("redrive") is { ValueKind: JsonValueKind.Object } r && r.Text("outcome") == "delivered" ? "redriven"
        : d.Get("superseded").ValueKind == JsonValueKind.Object ? "superseded"
        : d.Get("redrive").ValueKind == JsonValueKind.Object ? "redrive failed"
        : "open";

    /// <summary>Writes every line with two spaces before it.</summary>
    private sealed class IndentedWriter(TextWriter inner) : TextWriter
    {
        public override System.Text.Encoding Encoding => inner.Encoding;

        public override void WriteLine(string? value) => inner.WriteLine("  " + value);

        public override void Write(char value) => inner.Write(value);
    }

    /// <summary>Stored JSON, indented for reading (as it is when it does not parse).</summary>
    private static string Indent(string? json)
    {
        if (string.IsNullOrEmpty(json)) return "  -";
        try
        {
            using var doc = JsonDocument.Parse(json);
            var writer = new StringWriter();
            Json.Write(writer, doc.RootElement);
            return string.Join('\n', writer.ToString().TrimEnd().Split('\n').Select(l => "  " + l));
        }
        catch (JsonException)
        {
            return "  " + json;
        }
    }
}
