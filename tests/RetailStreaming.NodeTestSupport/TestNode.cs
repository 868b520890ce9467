using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using RetailStreaming.Node;
using RetailStreaming.Workflows;

namespace RetailStreaming.NodeTestSupport;

/// <summary>Options, paths and clients for nodes started in-process by the tests (Node.Tests, Cli.Tests).</summary>
public static class TestNode
{
    public const string SamplePackage = RetailStreaming.TestSupport.SamplePackages.SampleFileName;

    /// <summary>
    /// Options of a one-node cluster in <paramref name="dataDirectory"/>: a free remoting port (the
    /// node joins itself), a free admin port, the sample transform package, short drains.
    /// </summary>
    public static NodeOptions Options(string dataDirectory) => new()
    {
        Node = { DataDirectory = dataDirectory, Hostname = "127.0.0.1", Port = 0 },
        Admin = { Url = "http://127.0.0.1:0" },
        Transforms = { PackageDirectory = TransformPackageDirectory() },
        Logging = { MinimumLevel = "Warning" },
        Workflows = new WorkflowSettings
        {
            CheckpointInterval = TimeSpan.FromMilliseconds(200),
            RestartMinBackoff = TimeSpan.FromMilliseconds(200),
            RestartMaxBackoff = TimeSpan.FromSeconds(2),
            DrainTimeout = TimeSpan.FromSeconds(5),
        },
    };

    /// <summary>The folder holding the sample transform package (see <see cref="RetailStreaming.TestSupport.SamplePackages"/>).</summary>
    public static string TransformPackageDirectory() => RetailStreaming.TestSupport.SamplePackages.Directory();

    /// <summary>The folder holding RetailStreaming.sln, above the test binaries.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "RetailStreaming.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No RetailStreaming.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>The address Kestrel bound (the options ask for port 0).</summary>
    public static Uri BoundAddress(WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>An HTTP client on a node's admin API, with a bearer token when given.</summary>
    public static HttpClient Client(Uri baseAddress, string? token = null)
    {
        var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    /// <summary>A new, empty folder under the temp folder, named for its purpose.</summary>
    public static string NewTempDirectory(string purpose)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"rs-tests-{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Deletes a test directory; SQLite's connection pool may still hold its files for a moment.</summary>
    public static async Task DeleteDirectoryAsync(string dir)
    {
        SqliteConnection.ClearAllPools();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException && attempt < 10)
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>Polls until <paramref name="condition"/> holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> probe, Func<T, bool> condition, TimeSpan timeout, string what)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            var value = await probe();
            if (condition(value)) return value;
            if (DateTime.UtcNow > until)
                throw new Xunit.Sdk.XunitException($"Not within {timeout.TotalSeconds:0}s: {what}. Last value: {value}");
            await Task.Delay(100);
        }
    }
}
