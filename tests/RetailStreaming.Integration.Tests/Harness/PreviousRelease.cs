using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>
/// The node of the previous release, built from its sources in compat/&lt;commit&gt;.tar.gz (made by
/// scripts/make-compat-release.sh; the git history may not be there on CI). Built once per archive
/// and configuration into artifacts/compat/ (reused by later runs while the archive is the same),
/// with a distinct version, so that a cluster's members show which build each one runs.
/// </summary>
public sealed class PreviousRelease : IAsyncLifetime
{
    /// <summary>
    /// The previous release: the commit main was at when this build's work began. When a release
    /// lands, make its archive (scripts/make-compat-release.sh &lt;commit&gt;), delete the older one and
    /// change this.
    /// </summary>
    public const string Commit = "3c023fd";

    /// <summary>The version the previous release's node is built with (its cluster app-version).</summary>
    public const string Version = "0.9.0-compat." + Commit;

    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(15);

    /// <summary>The previous release's node dll (for <see cref="NodeProcess.NodeDll"/>).</summary>
    public string NodeDll { get; private set; } = "";

    /// <summary>How long the build took (zero when an earlier run's build was reused).</summary>
    public TimeSpan BuildTime { get; private set; }

    /// <summary>The archive.</summary>
    public static string Archive => Path.Combine(NodeBinaries.RepositoryRoot(), "compat", $"{Commit}.tar.gz");

    // One build per test process, whichever test class asks first (test classes run in parallel).
    private static readonly Lazy<Task<(string Dll, TimeSpan BuildTime)>> Built = new(BuildOnceAsync, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <inheritdoc />
    public async Task InitializeAsync() => (NodeDll, BuildTime) = await Built.Value;

    private static async Task<(string Dll, TimeSpan BuildTime)> BuildOnceAsync()
    {
        var archive = Archive;
        if (!File.Exists(archive))
            throw new InvalidOperationException(
                $"The previous release's sources are missing: {archive}. Make them with scripts/make-compat-release.sh {Commit} (needs the git history).");
        var configuration = NodeBinaries.Configuration;
        // The archive's hash and the build's inputs: a changed archive or build command builds again.
        var stamp = $"{Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(archive)))} {configuration} {Version}";
        var root = Path.Combine(NodeBinaries.RepositoryRoot(), "artifacts", "compat", $"{Commit}-{configuration}");
        var dll = Path.Combine(root, Commit, "src", "RetailStreaming.Node", "bin", configuration, "net10.0", "RetailStreaming.Node.dll");
        var stampFile = Path.Combine(root, "build.stamp");
        if (File.Exists(dll) && File.Exists(stampFile) && (await File.ReadAllTextAsync(stampFile)).Trim() == stamp)
            return (dll, TimeSpan.Zero);

        // Built beside the final folder and moved there when complete, so that a run that stops
        // halfway (or a concurrent run) never leaves a half-built node that looks finished.
        var building = $"{root}.building-{Environment.ProcessId}-{Guid.NewGuid():N}";
        Directory.CreateDirectory(building);
        try
        {
            return await BuildInAsync(archive, building, root, stamp, configuration, dll);
        }
        catch
        {
            NodeBinaries.TryDelete(building);
            throw;
        }
    }

    private static async Task<(string Dll, TimeSpan BuildTime)> BuildInAsync(string archive, string building, string root, string stamp, string configuration, string dll)
    {
        var clock = Stopwatch.StartNew();
        await using (var gz = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress))
            await TarFile.ExtractToDirectoryAsync(gz, building, overwriteFiles: false);
        var sources = Path.Combine(building, Commit);
        if (!File.Exists(Path.Combine(sources, "src", "RetailStreaming.Node", "RetailStreaming.Node.csproj")))
            throw new InvalidOperationException($"{archive} holds no {Commit}/src/RetailStreaming.Node/RetailStreaming.Node.csproj.");
        // The version goes on the node only: as a global property it would also rename the sample
        // transform's package, which the workflows ask for by its version.
        await File.WriteAllTextAsync(Path.Combine(sources, "Directory.Build.targets"), $"""
            <Project>
              <!-- Written by the rolling-upgrade test: the previous release's node shows its own version. -->
              <PropertyGroup Condition="'$(MSBuildProjectName)' == 'RetailStreaming.Node'">
                <Version>{Version}</Version>
              </PropertyGroup>
            </Project>
            """);
        await BuildAsync(sources, configuration);
        var built = Path.Combine(sources, "src", "RetailStreaming.Node", "bin", configuration, "net10.0");
        if (!File.Exists(Path.Combine(built, "RetailStreaming.Node.dll")) || !Directory.Exists(Path.Combine(built, "transform-packages")))
            throw new InvalidOperationException($"The previous release's build left no node with its transform packages in {built}.");
        await File.WriteAllTextAsync(Path.Combine(building, "build.stamp"), stamp);
        NodeBinaries.TryDelete(root);
        Directory.Move(building, root);
        return (dll, clock.Elapsed);
    }

    /// <inheritdoc />
    public Task DisposeAsync() => Task.CompletedTask;

    private static async Task BuildAsync(string sources, string configuration)
    {
        // The dotnet host `dotnet test` runs on, else the one on PATH.
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
        var psi = new ProcessStartInfo(host)
        {
            WorkingDirectory = sources,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // No build servers: they would outlive the build holding its output pipes open.
        foreach (var a in new[] { "build", "src/RetailStreaming.Node", "-c", configuration, "-nologo", "-clp:ErrorsOnly", "--disable-build-servers" })
            psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        // The test host's MSBuild settings (set by `dotnet test`) must not leak into this build.
        foreach (var key in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "VSTEST_HOST_DEBUG" })
            psi.Environment.Remove(key);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("dotnet build did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        string Output() => (stdout.IsCompletedSuccessfully ? stdout.Result : "") + (stderr.IsCompletedSuccessfully ? stderr.Result : "");
        using var timeout = new CancellationTokenSource(BuildTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await Task.WhenAny(Task.WhenAll(stdout, stderr), Task.Delay(TimeSpan.FromSeconds(5)));
            throw new TimeoutException($"Building the previous release's node ({sources}) took more than {BuildTimeout.TotalMinutes:0} min; killed it.\n{Output()}");
        }
        await Task.WhenAll(stdout, stderr);
        if (process.ExitCode != 0)
            throw new InvalidOperationException(
                $"Building the previous release's node failed (dotnet {string.Join(' ', psi.ArgumentList)} in {sources}, exit {process.ExitCode}); " +
                $"its packages restore from the NuGet cache or the configured sources:\n{Output()}");
    }
}
