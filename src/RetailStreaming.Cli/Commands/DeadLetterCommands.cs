using System.Text.Json;
using RetailStreaming.Cli.Output;

namespace RetailStreaming.Cli.Commands;

/// <summary><c>rsctl dlq list | show</c>: a workflow's dead letters.</summary>
internal static class DeadLetterCommands
{
    public static async Task<int> RunAsync(Session s)
    {
        var verb = s.Line.Word(1, "a verb", "rsctl dlq list|show");
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
                var table = new Table("ENTRY", "STAGE", "POSITION", "TRANSFORM", "CREATED", "REASON");
                foreach (var d in letters.Items())
                    table.Add(d.Text("id"), d.Text("stage"), d.Text("position"), d.Text("transformVersion"), d.Time("createdAt"), Json.Cell(d.Text("reason"), 60));
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
                    .Write(s.Out);
                s.Out.WriteLine("Input:");
                s.Out.WriteLine(Indent(d.Text("inputJson")));
                if (d.Text("outputJson") is { } output)
                {
                    s.Out.WriteLine("Output:");
                    s.Out.WriteLine(Indent(output));
                }
                return ExitCodes.Ok;
            }
            default:
                throw CliException.Usage($"unknown verb 'dlq {verb}'; use list or show");
        }
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
