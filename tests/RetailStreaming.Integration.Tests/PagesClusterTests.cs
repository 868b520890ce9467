using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// The pages' figures live in each node's memory: on a two-node cluster (journal and store on
/// PostgreSQL) either node answers with every member's samples, finds a record on the node that
/// hosts its workflow, and its dashboard shows both members and their shards.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PagesClusterTests(PostgresServerFixture postgres) : IAsyncLifetime
{
    private const string SecretVariable = "RS_IT_PAGES_CLUSTER_SECRET";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(120);
    private readonly string _secret = StandardWebhooks.GenerateSecret();
    private readonly string _work = Directory.CreateTempSubdirectory("rs-it-pages-cluster-").FullName;
    private readonly List<NodeProcess> _nodes = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // The second node first, so that the first does not wait for it as unreachable.
        for (var i = _nodes.Count - 1; i >= 0; i--) await _nodes[i].DisposeAsync();
        NodeBinaries.TryDelete(_work);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private string Describe() => string.Join('\n', _nodes.Select(n => n.OutputTail(40)));

    [Fact]
    public async Task Either_node_merges_every_members_samples_and_finds_a_record_on_the_node_hosting_its_workflow()
    {
        var environment = await postgres.NodeOnPostgresAsync();
        environment[SecretVariable] = _secret;
        environment["RetailStreaming__Pages__SampleInterval"] = "00:00:01";
        var seedPort = FreePort();
        var first = await NodeProcess.StartAsync(new Dictionary<string, string>(environment) { ["RetailStreaming__Node__Port"] = seedPort.ToString() }, name: "pages-first");
        _nodes.Add(first);
        var second = await NodeProcess.StartAsync(new Dictionary<string, string>(environment)
        {
            ["RetailStreaming__Node__SeedNodes__0"] = $"akka.tcp://retailstreaming@127.0.0.1:{seedPort}",
        }, name: "pages-second");
        _nodes.Add(second);
        await Eventually.UntilAsync("both nodes are Up members", Wait, async () =>
        {
            var cluster = await first.GetJsonAsync("/api/cluster");
            return cluster.GetProperty("members").EnumerateArray().Count(m => m.GetProperty("status").GetString() == "Up") == 2;
        }, Describe);
        var addresses = new Dictionary<NodeProcess, string>();
        foreach (var node in _nodes)
        {
            var address = (await node.GetJsonAsync("/api/overview")).GetProperty("node").GetString()!;
            addresses[node] = address[(address.IndexOf('@') + 1)..]; // host:port, as a workflow's status names its node
        }

        await using var receiver = await WebhookReceiver.StartAsync(_secret);
        var ids = Enumerable.Range(1, 4).Select(i => $"it-pages-cluster-{i}").ToList();
        var databases = new List<RetailClientDatabase>();
        var hosts = new Dictionary<string, string>();
        try
        {
            foreach (var id in ids)
            {
                var db = RetailClientDatabase.Create(Path.Combine(_work, id + ".db"));
                databases.Add(db);
                // Applying is idempotent: asked again when a shard still starts up (its remember-entities
                // store loads slowly on a busy machine and the first ask may be dropped).
                var answer = "";
                await Eventually.UntilAsync($"{id} is applied", Wait, async () =>
                {
                    var (status, body) = await first.ApplyWorkflowAsync(WorkflowFile.Retail(id, db, receiver.Url, SecretVariable), id + ".yaml");
                    answer = $"{(int)status}: {body}";
                    return status == HttpStatusCode.OK;
                }, () => $"last answer {answer}\n{Describe()}", TimeSpan.FromSeconds(1));
                await Eventually.UntilAsync($"{id}'s capture is installed", Wait, () => db.CaptureInstalled(id), Describe);
                db.Write(w => w.InsertTicket($"T-{id}", "S001", "SKU-00001", 1, 2.0));
            }
            await Eventually.UntilAsync("every workflow delivered its ticket", Wait, async () =>
            {
                foreach (var id in ids)
                {
                    var s = await first.WorkflowStatusAsync(id);
                    if (s is not { } status || status.GetProperty("deliveredRecords").GetInt64() < 1) return false;
                    hosts[id] = status.GetProperty("node").GetString()!;
                }
                return true;
            }, Describe);
            Assert.True(hosts.Values.All(h => addresses.ContainsValue(h)), $"hosts {string.Join(", ", hosts)} vs nodes {string.Join(", ", addresses.Values)}");

            // Samples: asked of either node, every member answers, and every workflow has samples.
            foreach (var node in _nodes)
            {
                JsonElement samples = default;
                await Eventually.UntilAsync($"{node.Name} merges both members' samples of every workflow", Wait, async () =>
                {
                    samples = await node.GetJsonAsync("/api/samples?minutes=5");
                    var nodes = samples.GetProperty("nodes").EnumerateArray().Select(n => n.GetString()).ToHashSet();
                    var sampled = samples.GetProperty("samples").EnumerateArray()
                        .Select(s => (s.GetProperty("workflowId").GetString()!, s.GetProperty("node").GetString()!)).ToHashSet();
                    return addresses.Values.All(nodes.Contains) && ids.All(id => sampled.Contains((id, hosts[id])));
                }, () => $"{samples}\n{Describe()}");
                Assert.Empty(samples.GetProperty("unanswered").EnumerateArray());
            }

            // A record, looked up through the node that does not host its workflow, comes from the one that does.
            foreach (var id in ids)
            {
                var asker = _nodes.First(n => addresses[n] != hosts[id]);
                var found = await asker.GetJsonAsync($"/api/workflows/{id}/records?key=T-{id}");
                var record = Assert.Single(found.GetProperty("records").EnumerateArray());
                Assert.Equal(hosts[id], record.GetProperty("node").GetString());
                Assert.Equal("delivered", record.GetProperty("record").GetProperty("outcome").GetString());
                Assert.Equal(2, found.GetProperty("reach").GetArrayLength());
            }
        }
        finally
        {
            foreach (var db in databases) db.Dispose();
        }

        // The dashboard on the second node shows both members and the shards of both.
        await using var browser = await HeadlessChromium.StartAsync();
        await browser.NavigateAsync(new Uri(second.AdminUrl, "/ui/").ToString() + "#token=" + Uri.EscapeDataString(second.OperatorToken));
        await browser.WaitForTextAsync(Wait, [.. ids, .. addresses.Values, "leader", "this node"]);
        var shardNodes = await browser.EvaluateAsync<int>("document.querySelectorAll('#shards tbody tr').length");
        Assert.InRange(shardNodes, hosts.Values.Distinct().Count(), 2); // a region without shards may be listed too
        await browser.ScreenshotAsync(Path.Combine(PagesTests.ScreenshotDirectory, "dashboard-two-nodes.png"));
        Assert.True(browser.PageErrors.Count == 0, "the page raised errors:\n" + string.Join('\n', browser.PageErrors));
    }
}
