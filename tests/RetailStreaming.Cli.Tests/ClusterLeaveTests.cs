using System.Security.Cryptography;
using System.Text.Json;
using RetailStreaming.Cli.Tests.Support;
using RetailStreaming.Node;

namespace RetailStreaming.Cli.Tests;

/// <summary>
/// <c>rsctl cluster leave</c> on a one-node cluster: a node run as <c>RetailStreaming.Node run</c>
/// runs it (its own, started for this test) hands its workflows off and its run ends cleanly.
/// </summary>
public sealed class ClusterLeaveTests : IAsyncLifetime
{
    private const string SecretVariable = "RS_CLI_TESTS_LEAVE_SECRET";
    private readonly string _root = TestNode.NewTempDirectory("leave");
    private WebhookEndpoint _endpoint = null!;

    public async Task InitializeAsync()
    {
        var secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        Environment.SetEnvironmentVariable(SecretVariable, secret);
        _endpoint = await WebhookEndpoint.StartAsync(secret);
    }

    public async Task DisposeAsync()
    {
        await _endpoint.DisposeAsync();
        await TestNode.DeleteDirectoryAsync(_root);
    }

    [Fact]
    public async Task Leave_on_a_one_node_cluster_hands_off_and_ends_the_node_cleanly()
    {
        const string id = "leaving-orders";
        var options = TestNode.Options(Path.Combine(_root, "node"));
        var database = RetailSource.CreateDatabase(_root, id, rows: 5);
        await File.WriteAllTextAsync(Path.Combine(_root, id + ".yaml"),
            RetailSource.Definition(id, "leaving", database, _endpoint.UrlFor(id), SecretVariable));

        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var run = Task.Run(() => NodeCommand.RunAsync(options, stop.Token));
        var (url, token) = await StartedAsync(options, run);
        Task<CliRun> Rsctl(params string[] args) =>
            CliNode.RunRsctlAsync([.. args, "--node", url, "--token", token], Path.Combine(_root, "config.json"), _root);

        Assert.Equal(0, (await Rsctl("workflow", "apply", "-f", id + ".yaml")).ExitCode);
        await TestNode.EventuallyAsync(() => Task.FromResult(_endpoint.ReceivedBy(id).Count), n => n == 5, TimeSpan.FromSeconds(30), "5 delivered");
        var self = JsonDocument.Parse((await Rsctl("cluster", "show", "--json")).Out).RootElement.GetProperty("self").GetString()!;
        var tailOutput = new SharedWriter();
        using var stopTail = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var tail = CliNode.RunRsctlAsync(["cluster", "tail", "--json", "--node", url, "--token", token], Path.Combine(_root, "config.json"), _root,
            output: tailOutput, interrupted: stopTail.Token);
        await TestNode.EventuallyAsync(() => Task.FromResult(tailOutput.ToString()), t => t.Contains("\"MemberUp\""), TimeSpan.FromSeconds(30), "the tail started");

        var leave = await Rsctl("cluster", "leave", self);

        Assert.True(leave.ExitCode == 0, leave.ToString());
        Assert.Contains("is leaving the cluster", leave.Out);
        // The member leaves and is removed; coordinated shutdown ends the actor system, which stops
        // the host: the node's run returns 0 and removes its admin URL.
        Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(90)));
        Assert.False(File.Exists(Path.Combine(options.DataDirectory, "admin-url")));
        var gone = await Rsctl("cluster", "show");
        Assert.Equal(ExitCodes.Failed, gone.ExitCode);
        Assert.StartsWith("rsctl: cannot reach the node", gone.Error);
        // The tail saw the node leave, one JSON object per line, then the node ended its stream.
        var tailed = await tail.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(ExitCodes.Failed, tailed.ExitCode);
        Assert.Contains("ended the event stream", tailed.Error);
        var events = tailed.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Contains(events, e => e.GetProperty("event").GetString() == "MemberLeft" && e.GetProperty("address").GetString() == self
                                     && e.GetProperty("status").GetString() == "Leaving");

        // It handed its workflow off with a checkpoint: started again on the same data, the node
        // resumes after it and delivers nothing twice.
        await using var again = await NodeHost.BuildAsync(TestNode.Options(Path.Combine(_root, "node")));
        await again.StartAsync();
        try
        {
            var againUrl = TestNode.BoundAddress(again).ToString();
            var status = await TestNode.EventuallyAsync(async () =>
            {
                var show = await CliNode.RunRsctlAsync(["workflow", "show", id, "--json", "--node", againUrl, "--token", token],
                    Path.Combine(_root, "config.json"), _root);
                return show.ExitCode == 0 ? JsonDocument.Parse(show.Out).RootElement.GetProperty("status").Clone() : default;
            }, s => s.ValueKind == JsonValueKind.Object && s.GetProperty("state").GetString() == "running", TimeSpan.FromSeconds(30), "the workflow running again");
            Assert.Equal(5, status.GetProperty("deliveredChanges").GetInt64());
            RetailSource.Insert(database, 6, 6);
            await TestNode.EventuallyAsync(() => Task.FromResult(_endpoint.ReceivedBy(id).Count), n => n >= 6, TimeSpan.FromSeconds(30), "the new change delivered");
            await Task.Delay(500);
            Assert.Equal(Enumerable.Range(1, 6).Select(i => $"sku-{i}"), _endpoint.ReceivedBy(id).Select(r => r.Key));
        }
        finally
        {
            await again.StopAsync();
        }
    }

    /// <summary>The admin URL and operator token the node writes once it is up.</summary>
    private static async Task<(string Url, string Token)> StartedAsync(NodeOptions options, Task<int> run)
    {
        var urlFile = Path.Combine(options.DataDirectory, "admin-url");
        var tokenFile = Path.Combine(options.DataDirectory, "operator-token");
        await TestNode.EventuallyAsync(() =>
        {
            if (run.IsCompleted) throw new Xunit.Sdk.XunitException($"the node ended before it was up: {run.Exception?.GetBaseException()}");
            return Task.FromResult(File.Exists(urlFile) && File.Exists(tokenFile));
        }, up => up, TimeSpan.FromSeconds(60), "the node up");
        var url = (await File.ReadAllTextAsync(urlFile)).Trim();
        using var http = TestNode.Client(new Uri(url));
        await TestNode.EventuallyAsync(async () => (await http.GetAsync("/health/ready")).IsSuccessStatusCode, ok => ok,
            TimeSpan.FromSeconds(30), "the node ready");
        return (url, (await File.ReadAllTextAsync(tokenFile)).Trim());
    }
}
