using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using RetailStreaming.Store;

namespace RetailStreaming.Node;

/// <summary><c>RetailStreaming.Node run</c>: one node, until stopped.</summary>
public static class NodeCommand
{
    /// <summary>Runs the node; writes its admin URL to data/admin-url and, on first start, an operator token to data/operator-token (mode 600).</summary>
    public static async Task<int> RunAsync(NodeOptions options, CancellationToken stop)
    {
        // A previous run's URL is stale until this node is up.
        Directory.CreateDirectory(options.DataDirectory);
        var urlFile = Path.Combine(options.DataDirectory, "admin-url");
        File.Delete(urlFile);
        var app = await NodeHost.BuildAsync(options);
        await app.StartAsync(stop);
        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        var tokenFile = Path.Combine(options.DataDirectory, "operator-token");
        if (!File.Exists(tokenFile))
        {
            var (secret, _) = await app.Services.GetRequiredService<ITokenStore>()
                .IssueAsync("operator", null, "first operator token, issued at first start", stop);
            // Created readable by the owner only from the first byte (no umask window).
            var options600 = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options600.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            await using (var file = new FileStream(tokenFile + ".tmp", options600))
            await using (var writer = new StreamWriter(file))
                await writer.WriteAsync(secret);
            File.Move(tokenFile + ".tmp", tokenFile);
        }
        await File.WriteAllTextAsync(urlFile + ".tmp", url, stop);
        File.Move(urlFile + ".tmp", urlFile, overwrite: true);
        Serilog.Log.Information("Node up. Admin API at {AdminUrl}; operator token in {TokenFile}", url, tokenFile);

        // SIGTERM (the host's console lifetime) stops the node like Ctrl+C does.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(stop);
        app.Lifetime.ApplicationStopping.Register(stopping.Cancel);
        try
        {
            await Task.Delay(Timeout.Infinite, stopping.Token);
        }
        catch (OperationCanceledException)
        {
        }
        Serilog.Log.Information("Stopping: workflows drain and checkpoint");
        File.Delete(urlFile); // a stopped node has no admin URL
        await app.StopAsync();
        await app.DisposeAsync();
        return 0;
    }
}
