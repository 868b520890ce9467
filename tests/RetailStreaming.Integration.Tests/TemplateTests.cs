using System.Diagnostics;
using System.Text;
using RetailStreaming.Integration.Tests.Harness;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// The functional developer's first step: <c>dotnet new rs-transform</c> from the templates package
/// (installed into a throwaway hive), then <c>dotnet test</c> of what it made, against the SDK and
/// test harness packed from this build (a local folder feed; everything else restores from the
/// registry the repository uses).
/// </summary>
public sealed class TemplateTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"rs-it-template-{Guid.NewGuid():N}");
    // A version of its own: the packages land in the NuGet cache, which must not serve an older build's copy.
    private readonly string _version = $"1.0.0-it{DateTime.UtcNow:yyyyMMddHHmmss}{Random.Shared.Next(1000):D3}";

    public TemplateTests() => Directory.CreateDirectory(_root);

    [Fact]
    public async Task A_project_made_by_the_template_passes_its_fixture_test_and_reports_a_mismatch()
    {
        var repo = NodeBinaries.RepositoryRoot();
        var configuration = NodeBinaries.Configuration;
        var feed = Path.Combine(_root, "feed");
        foreach (var project in new[] { "RetailStreaming.Transforms", "RetailStreaming.Transforms.Testing" })
            await DotnetAsync(repo, "pack", Path.Combine(repo, "src", project), "-c", configuration, "--no-build", "-o", feed, $"-p:Version={_version}", "-nologo");
        var templates = Path.Combine(repo, "templates", "RetailStreaming.Templates", "bin", configuration, "packages", "RetailStreaming.Templates.1.0.0.nupkg");
        Assert.True(File.Exists(templates), $"{templates} is missing: build templates/RetailStreaming.Templates ({configuration}) first");

        var hive = Path.Combine(_root, "hive");
        await DotnetAsync(_root, "new", "install", templates, "--debug:custom-hive", hive);
        var output = Path.Combine(_root, "acme");
        await DotnetAsync(_root, "new", "rs-transform", "-n", "Acme.Sales", "-o", output, "--sdk-version", _version, "--debug:custom-hive", hive);
        Assert.True(File.Exists(Path.Combine(output, "Acme.Sales", "Acme.Sales.csproj")));
        Assert.Contains("namespace Acme.Sales;", await File.ReadAllTextAsync(Path.Combine(output, "Acme.Sales", "SalesTransform.cs")));
        await File.WriteAllTextAsync(Path.Combine(output, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="this-build" value="{feed}" />
              </packageSources>
            </configuration>
            """);

        var passed = await DotnetAsync(output, "test", "-nologo");
        Assert.Contains("Passed!", passed);

        // A changed expectation fails the test with the fixture line, the field and both values.
        var expected = Path.Combine(output, "Acme.Sales.Tests", "fixtures", "sales.expected.ndjson");
        await File.WriteAllTextAsync(expected, (await File.ReadAllTextAsync(expected)).Replace("\"total\":14.97", "\"total\":15.00"));
        var failed = await RunAsync(output, expectFailure: true, "test", "--no-build", "-nologo");
        Assert.Contains("input line 1 (tickets insert at sqlite:0000000000000000001), record 0, expected line 1: payload.total: expected 15.00, actual 14.97", failed);
    }

    private static Task<string> DotnetAsync(string workingDirectory, params string[] args) => RunAsync(workingDirectory, false, args);

    private static async Task<string> RunAsync(string workingDirectory, bool expectFailure, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        // The test host's MSBuild and test-platform variables would point the child at this run's SDK state.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)
                                                              || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment.Remove("RS_UPDATE_GOLDEN");

        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', args)} did not finish within 5 minutes");
        }
        output.Append(await stdout).Append(await stderr);
        var text = output.ToString();
        if (expectFailure ? process.ExitCode == 0 : process.ExitCode != 0)
            throw new Xunit.Sdk.XunitException(
                $"dotnet {string.Join(' ', args)} exited {process.ExitCode} (expected {(expectFailure ? "a failure" : "0")}):\n{text}");
        return text;
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        // This run's packages in the NuGet cache: nothing else will use them.
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                    ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in new[] { "retailstreaming.transforms", "retailstreaming.transforms.testing" })
        {
            try { Directory.Delete(Path.Combine(cache, id, _version), recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }
}
