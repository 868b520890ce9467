using System.Text.Json;
using RetailStreaming.Cli.Output;

namespace RetailStreaming.Cli.Commands;

/// <summary>
/// <c>rsctl workflow shadow &lt;id&gt; --version X | --stop | --report</c>: a candidate transform version
/// runs beside the live one on the live changes; its differences are reported, never delivered.
/// </summary>
internal static class WorkflowShadowCommand
{
    private const string Usage = "rsctl workflow shadow <id> --version <version> | --stop | --report [--json]";

    public static async Task<int> RunAsync(Session s)
    {
        var id = s.Line.Word(2, "the workflow id", Usage);
        var version = s.Line.Option("version");
        var stop = s.Line.Flag("stop");
        var report = s.Line.Flag("report");
        ClusterCommands.Done(s, 3, Usage);
        if ((version is null ? 0 : 1) + (stop ? 1 : 0) + (report ? 1 : 0) != 1)
            throw CliException.Usage($"give exactly one of --version, --stop and --report; usage: {Usage}");

        var path = $"/api/workflows/{Uri.EscapeDataString(id)}/shadow";
        var answer = AdminClient.Expect(
            version is not null ? await s.Client.PostJsonAsync(path + "?version=" + Uri.EscapeDataString(version))
            : stop ? await s.Client.DeleteAsync(path)
            : await s.Client.GetAsync(path),
            "list the workflows with rsctl workflow list");
        if (s.Json)
        {
            Json.Write(s.Out, answer);
            return ExitCodes.Ok;
        }
        if (version is not null)
        {
            s.Out.WriteLine($"shadow run of transform {version} started beside {id}'s live version: its records are compared, never delivered; " +
                            $"see rsctl workflow shadow {id} --report");
            return ExitCodes.Ok;
        }
        Write(s, id, answer);
        return ExitCodes.Ok;
    }

    private static void Write(Session s, string id, JsonElement r)
    {
        if (r.Text("state") == "none")
        {
            s.Out.WriteLine($"workflow {id} has no shadow run; start one with rsctl workflow shadow {id} --version <version>");
            return;
        }
        new Details()
            .Add("Workflow", id)
            .Add("State", r.Text("state"))
            .Add("Candidate", r.Text("candidateVersion"))
            .Add("Live", r.Text("liveVersion"))
            .Add("Started", r.Time("startedAt"))
            .AddWhenSet("Stopped", r.Time("stoppedAt") is { } at ? $"{at} ({r.Text("stopReason")})" : null)
            .Add("Equal", r.Text("equal"))
            .Add("Different", r.Text("different"))
            .Add("Failed", r.Text("failed"))
            .Add("Skipped", r.Text("skipped"))
            .Write(s.Out);
        var differences = r.Get("differences").Items().ToList();
        if (differences.Count == 0) return;
        s.Out.WriteLine();
        var table = new Table("POSITION", "TABLE", "KEY", "KIND", "DIFF");
        foreach (var d in differences)
            table.Add(d.Text("position"), d.Text("table"), d.Text("key"), d.Text("kind"), d.Text("diff"));
        table.Write(s.Out, $"First {table.Count} difference(s), in source order");
    }
}
