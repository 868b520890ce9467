using RetailStreaming.Cli.Output;

namespace RetailStreaming.Cli.Commands;

/// <summary><c>rsctl cluster show | leave | down | join</c>.</summary>
internal static class ClusterCommands
{
    public static async Task<int> RunAsync(Session s)
    {
        var verb = s.Line.Word(1, "a verb", "rsctl cluster show|tail|leave|down|down-unreachable|join");
        switch (verb)
        {
            case "show":
            {
                Done(s, 2, "rsctl cluster show [--json]");
                var cluster = AdminClient.Expect(await s.Client.GetAsync("/api/cluster"));
                if (s.Json)
                {
                    Json.Write(s.Out, cluster);
                    return ExitCodes.Ok;
                }
                var table = new Table("ADDRESS", "ROLES", "STATUS", "REACHABILITY", "VERSION");
                foreach (var m in cluster.Get("members").Items())
                {
                    var address = m.Text("address") + (m.Bool("leader") ? " (leader)" : "");
                    var roles = "[" + string.Join(",", m.Get("roles").Items().Select(r => r.GetString())) + "]";
                    table.Add(address, roles, m.Text("status"), m.Text("reachability"), m.Text("appVersion"));
                }
                var unreachable = cluster.Text("unreachable") ?? "0";
                table.Write(s.Out, $"Count: {table.Count} member(s), {unreachable} unreachable");
                return ExitCodes.Ok;
            }
            case "tail":
            {
                Done(s, 2, "rsctl cluster tail [--json]");
                var events = 0;
                try
                {
                    await foreach (var data in s.Client.EventsAsync("/api/cluster/events", s.Env.Interrupted))
                    {
                        events++;
                        if (s.Json)
                        {
                            s.Out.WriteLine(data); // one JSON object per line
                        }
                        else
                        {
                            using var doc = System.Text.Json.JsonDocument.Parse(data);
                            var e = doc.RootElement;
                            var at = e.Time("at")?[11..19];
                            var roles = e.Get("roles").ValueKind == System.Text.Json.JsonValueKind.Array
                                ? " [" + string.Join(",", e.Get("roles").Items().Select(r => r.GetString())) + "]"
                                : "";
                            s.Out.WriteLine($"{at} | {e.Text("event"),-17} | {e.Text("address") ?? "(none)"}{(e.Text("status") is { } st ? " | " + st : "")}{roles}");
                        }
                        s.Out.Flush();
                    }
                }
                catch (OperationCanceledException) when (s.Env.Interrupted.IsCancellationRequested)
                {
                    return ExitCodes.Ok; // Ctrl+C: the operator is done watching
                }
                if (s.Env.Interrupted.IsCancellationRequested) return ExitCodes.Ok;
                throw new CliException(ExitCodes.Failed,
                    $"the node at {s.Client.Node} ended the event stream after {events} event(s) (it stopped or left the cluster); tail another node");
            }
            case "down-unreachable":
            {
                Done(s, 2, "rsctl cluster down-unreachable [--json]");
                var answer = AdminClient.Expect(await s.Client.PostJsonAsync("/api/cluster/down-unreachable"));
                if (s.Json)
                {
                    Json.Write(s.Out, answer);
                    return ExitCodes.Ok;
                }
                var downed = answer.Get("downed").Items().Select(a => a.GetString()).ToList();
                s.Out.WriteLine(downed.Count == 0
                    ? "no unreachable members: nothing to down"
                    : $"marked {downed.Count} unreachable member(s) down: {string.Join(", ", downed)}");
                return ExitCodes.Ok;
            }
            case "leave" or "down" or "join":
            {
                var usage = $"rsctl cluster {verb} <address>";
                var address = s.Line.Word(2, "the member's address", usage);
                Done(s, 3, usage);
                var answer = AdminClient.Expect(await s.Client.PostJsonAsync($"/api/cluster/{verb}", new { address }), "see rsctl cluster show");
                if (s.Json)
                {
                    Json.Write(s.Out, answer);
                    return ExitCodes.Ok;
                }
                var target = answer.Text("address");
                s.Out.WriteLine(verb switch
                {
                    "leave" => $"{target} is leaving the cluster (its workflows hand off first); follow it with rsctl cluster show",
                    "down" => $"{target} was marked down; the cluster removes it and its workflows start elsewhere",
                    _ => $"this node is joining the cluster of {target}; follow it with rsctl cluster show",
                });
                return ExitCodes.Ok;
            }
            default:
                throw CliException.Usage($"unknown verb 'cluster {verb}'; use show, tail, leave, down, down-unreachable or join");
        }
    }

    internal static void Done(Session s, int words, string usage)
    {
        s.AcceptConnectionOptions();
        s.Line.RejectUnknown(words, usage);
    }
}

/// <summary><c>rsctl sharding regions | stats</c>.</summary>
internal static class ShardingCommands
{
    public static async Task<int> RunAsync(Session s)
    {
        var verb = s.Line.Word(1, "a verb", "rsctl sharding regions|stats");
        switch (verb)
        {
            case "regions":
            {
                ClusterCommands.Done(s, 2, "rsctl sharding regions [--json]");
                var regions = AdminClient.Expect(await s.Client.GetAsync("/api/sharding/regions"));
                if (s.Json)
                {
                    Json.Write(s.Out, regions);
                    return ExitCodes.Ok;
                }
                var table = new Table("TYPE", "REGION");
                foreach (var type in regions.Items())
                foreach (var region in type.Get("regions").Items())
                    table.Add(type.Text("typeName"), region.GetString());
                table.Write(s.Out, $"Count: {table.Count} region(s) of {regions.GetArrayLength()} type(s)");
                return ExitCodes.Ok;
            }
            case "stats":
            {
                ClusterCommands.Done(s, 2, "rsctl sharding stats [--json]");
                var stats = AdminClient.Expect(await s.Client.GetAsync("/api/sharding/stats"));
                if (s.Json)
                {
                    Json.Write(s.Out, stats);
                    return ExitCodes.Ok;
                }
                var table = new Table("TYPE", "NODE", "SHARDS", "ENTITIES", "FAILED");
                long shards = 0, entities = 0;
                foreach (var type in stats.Items())
                {
                    foreach (var node in type.Get("nodes").Items())
                    {
                        var failed = string.Join(",", node.Get("failedShards").Items().Select(f => f.GetString()));
                        table.Add(type.Text("typeName"), node.Text("address"), node.Text("shards"), node.Text("entities"), failed.Length == 0 ? "-" : failed);
                    }
                    shards += type.Get("shards").GetInt64();
                    entities += type.Get("entities").GetInt64();
                }
                table.Write(s.Out, $"Total: {shards} shard(s), {entities} entit{(entities == 1 ? "y" : "ies")} on {table.Count} region(s)");
                return ExitCodes.Ok;
            }
            default:
                throw CliException.Usage($"unknown verb 'sharding {verb}'; use regions or stats");
        }
    }
}
