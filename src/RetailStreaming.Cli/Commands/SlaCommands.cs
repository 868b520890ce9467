using System.Globalization;
using RetailStreaming.Cli.Output;

namespace RetailStreaming.Cli.Commands;

/// <summary><c>rsctl sla report</c>: per workflow uptime, paused time, latency, volume against the target.</summary>
internal static class SlaCommands
{
    private const string Usage = "rsctl sla report [--client <id>] [--from <time>] [--to <time>] [--json]";

    public static async Task<int> RunAsync(Session s)
    {
        var verb = s.Line.Word(1, "a verb", Usage);
        if (verb != "report")
            throw CliException.Usage($"unknown verb 'sla {verb}'; usage: {Usage}");
        var query = new List<string>();
        if (s.Line.Option("client") is { } client) query.Add("client=" + Uri.EscapeDataString(client));
        if (s.Line.Option("from") is { } from) query.Add("from=" + Uri.EscapeDataString(from));
        if (s.Line.Option("to") is { } to) query.Add("to=" + Uri.EscapeDataString(to));
        ClusterCommands.Done(s, 2, Usage);
        var report = AdminClient.Expect(await s.Client.GetAsync("/api/sla" + (query.Count == 0 ? "" : "?" + string.Join('&', query))));
        if (s.Json)
        {
            Json.Write(s.Out, report);
            return ExitCodes.Ok;
        }
        var table = new Table("WORKFLOW", "CLIENT", "UPTIME", "DOWN", "PAUSED", "P50", "P99", "VOLUME/DAY", "TARGET", "SLA");
        foreach (var w in report.Get("workflows").Items())
            table.Add(w.Text("workflowId"), w.Text("clientId"),
                w.Number("uptimePercent", 3) is { } up ? up + "%" : "-",
                Duration(w.Get("downSeconds").GetDouble()), Duration(w.Get("pausedSeconds").GetDouble()),
                w.Number("latencyP50Ms", 1) is { } p50 ? p50 + " ms" : "-",
                w.Number("latencyP99Ms", 1) is { } p99 ? p99 + " ms" : "-",
                w.Number("volumePerDay", 0), w.Number("targetPercent", 3) + "%", w.Text("met"));
        table.Write(s.Out, $"From {report.Time("from")} to {report.Time("to")}; {table.Count} workflow(s)");
        return ExitCodes.Ok;
    }

    private static string Duration(double seconds)
    {
        var d = TimeSpan.FromSeconds(Math.Round(seconds));
        var c = CultureInfo.InvariantCulture;
        return d.TotalMinutes < 1 ? string.Create(c, $"{d.Seconds}s")
            : d.TotalHours < 1 ? string.Create(c, $"{d.Minutes}m {d.Seconds}s")
            : string.Create(c, $"{(int)d.TotalHours}h {d.Minutes}m");
    }
}
