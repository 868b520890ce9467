using System.Net;
using RetailStreaming.Node.Tests.Support;

namespace RetailStreaming.Node.Tests;

/// <summary>
/// <c>RetailStreaming.Node run</c>: the files it leaves in the data directory for operators and
/// rsctl (admin-url, and the operator token issued at first start, readable by its owner only).
/// </summary>
public sealed class NodeCommandTests : IAsyncLifetime
{
    private static readonly TimeSpan StartWithin = TimeSpan.FromSeconds(30);
    private readonly string _root = TestNode.NewTempDirectory("command");

    private string DataDirectory => Path.Combine(_root, "node");
    private string TokenFile => Path.Combine(DataDirectory, "operator-token");
    private string AdminUrlFile => Path.Combine(DataDirectory, "admin-url");

    [Fact]
    public async Task Run_writes_the_admin_url_and_a_private_operator_token_that_authenticates_and_keeps_it_across_restarts()
    {
        string firstToken;
        await using (var run = await RunningNode.StartAsync(TestNode.Options(DataDirectory), AdminUrlFile, previousUrl: null))
        {
            Assert.True(File.Exists(TokenFile));
            Assert.False(File.Exists(TokenFile + ".tmp"));
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(TokenFile));
            firstToken = (await File.ReadAllTextAsync(TokenFile)).Trim();
            Assert.NotEmpty(firstToken);

            await AssertAuthenticatesAsync(run.AdminUrl, firstToken);
            Assert.Equal(0, await run.StopAsync());
        }

        // A stopped node has no admin URL; a restart on the same data directory keeps the first
        // token (and its store) and writes the URL again.
        Assert.False(File.Exists(AdminUrlFile), "admin-url must be removed when the node stops");
        await using (var again = await RunningNode.StartAsync(TestNode.Options(DataDirectory), AdminUrlFile, previousUrl: null))
        {
            Assert.Equal(firstToken, (await File.ReadAllTextAsync(TokenFile)).Trim());
            await AssertAuthenticatesAsync(again.AdminUrl, firstToken);
            Assert.Equal(0, await again.StopAsync());
        }
    }

    private static async Task AssertAuthenticatesAsync(Uri adminUrl, string token)
    {
        using var http = TestNode.Client(adminUrl, token);
        using var response = await http.GetAsync("/api/workflows");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var anonymous = TestNode.Client(adminUrl);
        using var refused = await anonymous.GetAsync("/api/workflows");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => TestNode.DeleteDirectoryAsync(_root);

    /// <summary>NodeCommand.RunAsync in the background, until its token is cancelled.</summary>
    private sealed class RunningNode : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private Task<int> _run = null!;

        public Uri AdminUrl { get; private set; } = null!;

        public static async Task<RunningNode> StartAsync(NodeOptions options, string adminUrlFile, string? previousUrl)
        {
            var node = new RunningNode();
            node._run = Task.Run(() => NodeCommand.RunAsync(options, node._stop.Token));
            var until = DateTime.UtcNow + StartWithin;
            while (true)
            {
                if (node._run.IsCompleted)
                    throw new Xunit.Sdk.XunitException($"The node stopped before writing admin-url: {(node._run.IsFaulted ? node._run.Exception : node._run.Result)}");
                var url = File.Exists(adminUrlFile) ? (await File.ReadAllTextAsync(adminUrlFile)).Trim() : "";
                if (url.Length > 0 && url != previousUrl && Uri.TryCreate(url, UriKind.Absolute, out var uri))
                {
                    node.AdminUrl = uri;
                    return node;
                }
                if (DateTime.UtcNow > until)
                {
                    await node.DisposeAsync();
                    throw new Xunit.Sdk.XunitException($"No admin-url within {StartWithin.TotalSeconds:0}s.");
                }
                await Task.Delay(100);
            }
        }

        public async Task<int> StopAsync()
        {
            await _stop.CancelAsync();
            return await _run.WaitAsync(TimeSpan.FromSeconds(30));
        }

        public async ValueTask DisposeAsync()
        {
            if (!_run.IsCompleted)
            {
                await _stop.CancelAsync();
                await _run.ContinueWith(_ => { }).WaitAsync(TimeSpan.FromSeconds(30));
            }
            _stop.Dispose();
        }
    }
}
