using System.Text.Json;
using RetailStreaming.Cli.Output;

namespace RetailStreaming.Cli.Commands;

/// <summary>The automatic rollbacks (transform.autoRollback) under <c>rsctl workflow history</c>; nothing when there were none.</summary>
internal static class WorkflowHistoryAutoRollbacks
{
    public static void Write(Session s, JsonElement history)
    {
        var rollbacks = history.Get("autoRollbacks").Items().ToList();
        if (rollbacks.Count == 0) return;
        s.Out.WriteLine();
        s.Out.WriteLine("Automatic rollbacks (transform.autoRollback):");
        var table = new Table("AT", "FROM", "TO", "FAILED", "REASON");
        foreach (var r in rollbacks)
            table.Add(r.Time("at"), "v" + r.Text("fromVersion"), "definition of v" + r.Text("toVersion"),
                $"{r.Text("failed")}/{r.Text("transformed")}", r.Text("reason"));
        table.Write(s.Out, $"Count: {table.Count} automatic rollback(s)");
    }
}
