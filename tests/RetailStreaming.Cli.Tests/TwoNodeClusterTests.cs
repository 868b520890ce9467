using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using RetailStreaming.Cli.Tests.Support;
using RetailStreaming.Node;
using RetailStreaming.Store;
using RetailStreaming.TestSupport;

namespace RetailStreaming.Cli.Tests;

/// <summary>
/// Answers are cluster-wide: on a 2-node cluster (journal and platform store on a PostgreSQL server
/// the test starts), every read command gives the same answer from either node, for workflows
/// hosted on both.
/// </summary>
public sealed class TwoNodeClusterTests : IAsyncLifetime
{
    private const string SecretVariable = "RS_CLI_TESTS_CLUSTER_SECRET";
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    private readonly string _root = TestNode.NewTempDirectory("cluster");
    private PostgresServer _server = null!;
    private WebhookEndpoint _endpoint = null!;
    private readonly List<WebApplication> _nodes = [];

    public async Task InitializeAsync()
    {
        var secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        Environment.SetEnvironmentVariable(SecretVariable, secret);
        _server = await PostgresServer.StartAsync(maxReplicationSlots: 4);
        _endpoint = await WebhookEndpoint.StartAsync(secret);
    }

    public async Task DisposeAsync()
    {
        // The second node leaves first, so that the first does not wait for it as unreachable.
        for (var i = _nodes.Count - 1; i >= 0; i--)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await _nodes[i].StopAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
            }
            await _nodes[i].DisposeAsync();
        }
        await _endpoint.DisposeAsync();
        await _server.DisposeAsync();
        await TestNode.DeleteDirectoryAsync(_root);
    }

    [Fact]
    public async Task Every_read_command_gives_the_same_answer_from_both_nodes()
    {
        var journal = await _server.CreateDatabaseAsync("journal");
        var store = await _server.CreateDatabaseAsync("store");
        NodeOptions Options(string name, params string[] seeds)
        {
            var options = TestNode.Options(Path.Combine(_root, name));
            options.Persistence = new DatabaseSection { Provider = "postgres", ConnectionString = journal };
            options.Store = new StoreSection { Provider = "postgres", ConnectionString = store };
            options.Node.SeedNodes = [.. seeds];
            return options;
        }

        var first = await StartAsync(Options("first"));
        var firstAddress = Akka.Cluster.Cluster.Get(first.Services.GetRequiredService<ActorSystem>()).SelfAddress.ToString();
        var (token, _) = await first.Services.GetRequiredService<ITokenStore>().IssueAsync("operator", null, "two-node cli tests");
        await first.Services.GetRequiredService<ITokenStore>().IssueAsync("client", "north", "a client token");

        // cluster tail on the first node sees the second one join as it happens.
        var firstUrl = TestNode.BoundAddress(first).ToString();
        var tailOutput = new SharedWriter();
        using var stopTail = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var tail = CliNode.RunRsctlAsync(["cluster", "tail", "--node", firstUrl, "--token", token], Path.Combine(_root, "config.json"), _root,
            output: tailOutput, interrupted: stopTail.Token);
        await TestNode.EventuallyAsync(() => Task.FromResult(tailOutput.ToString()), t => t.Contains("MemberUp") && t.Contains(firstAddress),
            Within, "the tail showing the first node up");
        var second = await StartAsync(Options("second", firstAddress));
        var secondAddress = Akka.Cluster.Cluster.Get(second.Services.GetRequiredService<ActorSystem>()).SelfAddress.ToString();
        await TestNode.EventuallyAsync(() => Task.FromResult(tailOutput.ToString()),
            t => t.Split('\n').Any(l => l.Contains("MemberUp") && l.Contains(secondAddress)), Within, "the tail showing the second node up");
        stopTail.Cancel();
        var tailed = await tail.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(tailed.ExitCode == 0, tailed.ToString());
        Assert.Matches(@"\d\d:\d\d:\d\d \| MemberJoined +\| " + System.Text.RegularExpressions.Regex.Escape(secondAddress) + @" \| Joining \[\]", tailed.Out);

        var urls = new[] { firstUrl, TestNode.BoundAddress(second).ToString() };
        Task<CliRun> Rsctl(int node, params string[] args) =>
            CliNode.RunRsctlAsync([.. args, "--node", urls[node], "--token", token], Path.Combine(_root, "config.json"), _root);
        async Task<JsonNode> JsonOf(int node, params string[] args)
        {
            var run = await Rsctl(node, [.. args, "--json"]);
            Assert.True(run.ExitCode == 0, $"node {node}: rsctl {string.Join(' ', args)}: {run}");
            return JsonNode.Parse(run.Out)!;
        }

        // Both members Up, and both hosting the workflow region, before any workflow is placed.
        await TestNode.EventuallyAsync(async () => (await JsonOf(1, "cluster", "show"))["members"]!.AsArray()
                .Count(m => m!["status"]!.GetValue<string>() == "Up"),
            n => n == 2, Within, "two Up members");
        await TestNode.EventuallyAsync(async () => (await JsonOf(0, "sharding", "regions"))[0]!["regions"]!.AsArray().Count,
            n => n == 2, Within, "the workflow region on both nodes");

        // Workflows of two clients, one with a dead letter.
        _endpoint.Refuse = (path, key) => path == "cluster-north-1" && key == "sku-2";
        var ids = new[] { "cluster-north-1", "cluster-north-2", "cluster-south-1", "cluster-south-2" };
        foreach (var id in ids)
        {
            var database = RetailSource.CreateDatabase(_root, id);
            await File.WriteAllTextAsync(Path.Combine(_root, id + ".yaml"),
                RetailSource.Definition(id, id.Split('-')[1], database, _endpoint.UrlFor(id), SecretVariable));
            var apply = await Rsctl(0, "workflow", "apply", "-f", id + ".yaml");
            Assert.True(apply.ExitCode == 0, apply.ToString());
        }
        var list = await TestNode.EventuallyAsync(async () => (await JsonOf(1, "workflow", "list")).AsArray(),
            l => l.Count == 4 && l.All(w => w!["status"] is JsonObject s && s["state"]!.GetValue<string>() == "running"
                                           && s["deliveredChanges"]!.GetValue<long>() == 2 && s["sourcePendingChanges"]?.GetValue<long>() == 0),
            Within, "4 workflows running, all delivered, lag measured");
        // Hosted on both nodes: half the answers come from the other node, through the shard region.
        Assert.Equal(2, list.Select(w => w!["status"]!["node"]!.GetValue<string>()).Distinct().Count());

        var entry = (await JsonOf(0, "dlq", "list", "cluster-north-1"))[0]!["id"]!.GetValue<long>().ToString();
        List<string[]> commands =
        [
            ["cluster", "show"], ["sharding", "regions"], ["sharding", "stats"], ["workflow", "list"], ["token", "list"],
            ["dlq", "show", "cluster-north-1", entry],
        ];
        foreach (var id in ids)
        {
            commands.Add(["workflow", "show", id]);
            commands.Add(["workflow", "history", id]);
            commands.Add(["dlq", "list", id]);
        }

        var differences = new List<string>();
        foreach (var command in commands)
        {
            // The table, then the JSON (without what names the node asked: "self").
            var (a, b) = (await Rsctl(0, command), await Rsctl(1, command));
            if (a.ExitCode != 0 || a.Out != b.Out)
                differences.Add($"rsctl {string.Join(' ', command)}:\n--- first node\n{a}\n--- second node\n{b}");
            var (ja, jb) = (WithoutSelf(await JsonOf(0, command)), WithoutSelf(await JsonOf(1, command)));
            if (ja != jb)
                differences.Add($"rsctl {string.Join(' ', command)} --json:\n--- first node\n{ja}\n--- second node\n{jb}");
        }
        Assert.True(differences.Count == 0, string.Join("\n\n", differences));
    }

    private async Task<WebApplication> StartAsync(NodeOptions options)
    {
        var app = await NodeHost.BuildAsync(options);
        await app.StartAsync();
        _nodes.Add(app);
        return app;
    }

    private static string WithoutSelf(JsonNode node)
    {
        if (node is JsonObject o)
        {
            o.Remove("self");
            foreach (var member in (o["members"] as JsonArray) ?? []) (member as JsonObject)?.Remove("self");
        }
        return node.ToJsonString();
    }
}
