using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using RetailStreaming.Cli.Output;
using RetailStreaming.TransformHost;
using RetailStreaming.Transforms;
using RetailStreaming.Transforms.Testing;

namespace RetailStreaming.Cli.Commands;

/// <summary>
/// <c>rsctl transform test | publish | list</c>: the functional developer's path. <c>test</c> runs
/// locally (no node): it packs the project, loads the package as a node does (its own collectible
/// load context, the SDK shared from rsctl) and checks it against fixture files. <c>publish</c> puts a
/// package into the cluster's package store, from which every node loads it.
/// </summary>
internal static class TransformCommands
{
    public static async Task<int> RunAsync(Session s)
    {
        var verb = s.Line.Word(1, "a verb", "rsctl transform test|publish|list");
        return verb switch
        {
            "test" => await TestAsync(s),
            "publish" => await PublishAsync(s),
            "list" => await ListAsync(s),
            _ => throw CliException.Usage($"unknown verb 'transform {verb}'; use test, publish or list"),
        };
    }

    private static async Task<int> TestAsync(Session s)
    {
        const string usage = "rsctl transform test <project dir | .csproj | .nupkg> --fixtures <dir> [--type T] [--update] [--json]";
        var target = FullPath(s, s.Line.Word(2, "the transform project or package", usage));
        var fixtures = s.Line.Option("fixtures") ?? throw CliException.Usage($"missing --fixtures <dir>; usage: {usage}");
        var typeName = s.Line.Option("type");
        var update = s.Line.Flag("update");
        ClusterCommands.Done(s, 3, usage);
        fixtures = FullPath(s, fixtures);
        if (!Directory.Exists(fixtures))
            throw new CliException(ExitCodes.Failed, $"the fixture folder {fixtures} does not exist");

        var work = Path.Combine(Path.GetTempPath(), $"rsctl-transform-test-{Guid.NewGuid():N}");
        var loaded = new List<LoadedTransform>();
        try
        {
            var (identity, type, result) = await RunFixturesAsync(s, target, fixtures, typeName, update, work, loaded);

            if (s.Json)
                Json.Write(s.Out, JsonSerializer.SerializeToElement(new
                {
                    package = identity.Id,
                    identity.Version,
                    type,
                    result.Passed,
                    fixtures = result.Fixtures.Select(f => new
                    {
                        f.Name, f.Changes, f.Records, f.Errors, f.Updated, f.Passed,
                        differences = f.Differences.Select(d => new { d.InputLine, d.Change, d.ExpectedLine, d.Record, d.Field, d.Expected, d.Actual, text = d.ToString() }),
                    }),
                }, JsonSerializerOptions.Web));
            else
            {
                s.Out.WriteLine($"{identity.Id} {identity.Version}, {type}");
                s.Out.Write(result.Report.Replace(fixtures, Path.GetRelativePath(s.Env.WorkingDirectory, fixtures), StringComparison.Ordinal));
            }
            return result.Passed ? ExitCodes.Ok : ExitCodes.Failed;
        }
        finally
        {
            foreach (var transform in loaded) transform.Dispose();
            try { Directory.Delete(work, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* a temp folder: best effort */ }
        }
    }

    /// <summary>
    /// Packs the project (unless given a .nupkg), loads the package as a node does (its own collectible
    /// load context, from a package folder) and runs the fixtures of <paramref name="fixtures"/>; the
    /// transforms it loads are added to <paramref name="loaded"/> for the caller to dispose.
    /// </summary>
    internal static async Task<(TransformPackageIdentity Identity, string Type, TransformTestResult Result)> RunFixturesAsync(
        Session s, string target, string fixtures, string? typeName, bool update, string work, List<LoadedTransform> loaded)
    {
        var feed = Path.Combine(work, "feed");
        Directory.CreateDirectory(feed);
        var nupkg = target.EndsWith(".nupkg", StringComparison.OrdinalIgnoreCase)
            ? File.Exists(target) ? target : throw new CliException(ExitCodes.Failed, $"{target} does not exist")
            : await PackAsync(s, ProjectFile(target), Path.Combine(work, "pack"));
        var identity = Identity(nupkg);
        // The store finds packages by file name, as a node's package folder does.
        File.Copy(nupkg, Path.Combine(feed, $"{identity.Id}.{identity.Version}.nupkg"));
        var loader = new TransformLoader(new TransformPackageStore(feed, Path.Combine(work, "cache")));

        try
        {
            var types = loader.FindTransformTypes(identity.Id, identity.Version);
            typeName ??= types.Count switch
            {
                1 => types[0],
                0 => throw new CliException(ExitCodes.Failed,
                    $"{identity.Id} {identity.Version} has no public class implementing ITransform with a public parameterless constructor"),
                _ => throw new CliException(ExitCodes.Failed,
                    $"{identity.Id} {identity.Version} has {types.Count} transform types ({string.Join(", ", types)}); choose one with --type"),
            };
            var result = TransformFixtures.Run(() =>
            {
                var transform = loader.Load(identity.Id, identity.Version, typeName);
                loaded.Add(transform);
                return transform.Transform;
            }, fixtures, new TransformTestOptions { UpdateExpected = update, TransformVersion = identity.Version });
            return (identity, typeName, result);
        }
        catch (TransformLoadException e)
        {
            throw new CliException(ExitCodes.Failed, e.Message);
        }
        catch (Exception e) when (e is FixtureFormatException or FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CliException(ExitCodes.Failed, e.Message);
        }
    }

    private static string ProjectFile(string target)
    {
        if (target.EndsWith(".csproj", StringComparison.OrdinalIgnoreCase))
            return File.Exists(target) ? target : throw new CliException(ExitCodes.Failed, $"{target} does not exist");
        if (!Directory.Exists(target))
            throw new CliException(ExitCodes.Failed, $"{target} is neither a folder, a .csproj nor a .nupkg");
        var projects = Directory.GetFiles(target, "*.csproj");
        return projects.Length switch
        {
            1 => projects[0],
            0 => throw new CliException(ExitCodes.Failed, $"{target} holds no .csproj; give the transform's project or its .nupkg"),
            _ => throw new CliException(ExitCodes.Failed, $"{target} holds {projects.Length} projects; give the transform's .csproj"),
        };
    }

    /// <summary>Packs the project (which builds it) into <paramref name="output"/>; returns the .nupkg.</summary>
    private static async Task<string> PackAsync(Session s, string project, string output)
    {
        if (!s.Json) s.Out.WriteLine($"packing {Path.GetRelativePath(s.Env.WorkingDirectory, project)} ...");
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { "pack", project, "-c", "Release", "-o", output, "-nologo", "-v", "q", "-clp:ErrorsOnly",
                // Packing is what this command does: a project that also packs on build would pack twice (NU5026).
                "-p:GeneratePackageOnBuild=false" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(project)!,
        };
        using var process = Process.Start(start) ?? throw new CliException(ExitCodes.Failed, "cannot start dotnet; is the .NET SDK installed and on PATH?");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            s.Env.Error.Write((await stdout) + (await stderr));
            throw new CliException(ExitCodes.Failed, $"dotnet pack {Path.GetFileName(project)} failed (exit {process.ExitCode}); see the errors above");
        }
        var packages = Directory.Exists(output)
            ? Directory.GetFiles(output, "*.nupkg").Where(p => !p.EndsWith(".symbols.nupkg", StringComparison.OrdinalIgnoreCase)).ToList()
            : [];
        return packages.Count == 1
            ? packages[0]
            : throw new CliException(ExitCodes.Failed, $"dotnet pack {Path.GetFileName(project)} made {packages.Count} packages; is the project packable (IsPackable)?");
    }

    private static async Task<int> PublishAsync(Session s)
    {
        const string usage = "rsctl transform publish <file.nupkg> [--json]";
        var path = FullPath(s, s.Line.Word(2, "the package file", usage));
        ClusterCommands.Done(s, 3, usage);
        if (!File.Exists(path)) throw new CliException(ExitCodes.Failed, $"{path} does not exist");
        var bytes = await File.ReadAllBytesAsync(path);
        // Read here first: a file that is not a package gets a local error, not a round trip.
        Identity(path);
        var sha256 = TransformPackageStore.Sha256Of(bytes);
        // The node recomputes the checksum: what it stores is what was packed here.
        var answer = AdminClient.Expect(await s.Client.PostBytesAsync($"/api/transforms?sha256={sha256}", bytes, "application/octet-stream"));
        if (s.Json)
        {
            Json.Write(s.Out, answer);
            return ExitCodes.Ok;
        }
        s.Out.WriteLine(answer.Bool("created")
            ? $"published {answer.Text("packageId")} {answer.Text("version")} (sha256 {Short(answer.Text("sha256"))}, {Size(answer)}): every node can load it now"
            : $"{answer.Text("packageId")} {answer.Text("version")} is already published with these bytes (sha256 {Short(answer.Text("sha256"))}): nothing to do");
        s.Out.WriteLine($"transform types: {string.Join(", ", answer.Get("types").Items().Select(t => t.GetString()))}");
        return ExitCodes.Ok;
    }

    private static async Task<int> ListAsync(Session s)
    {
        const string usage = "rsctl transform list [<package-id>] [--json]";
        var id = s.Line.Words.Count > 2 ? s.Line.Words[2] : null;
        ClusterCommands.Done(s, id is null ? 2 : 3, usage);
        var packages = AdminClient.Expect(await s.Client.GetAsync(
            id is null ? "/api/transforms" : $"/api/transforms?packageId={Uri.EscapeDataString(id)}"));
        if (s.Json)
        {
            Json.Write(s.Out, packages);
            return ExitCodes.Ok;
        }
        var table = new Table("PACKAGE", "VERSION", "TYPES", "SIZE", "SHA256", "PUBLISHED", "BY");
        foreach (var p in packages.Items())
            table.Add(p.Text("packageId"), p.Text("version"), Json.Cell(string.Join(", ", p.Get("types").Items().Select(t => t.GetString())), 60),
                Size(p), Short(p.Text("sha256")), p.Time("publishedAt"), p.Text("publishedBy"));
        table.Write(s.Out, $"Count: {table.Count} published version(s)");
        return ExitCodes.Ok;
    }

    private static TransformPackageIdentity Identity(string nupkg)
    {
        try
        {
            return TransformPackageStore.ReadIdentity(nupkg);
        }
        catch (TransformLoadException e)
        {
            throw new CliException(ExitCodes.Failed, $"{Path.GetFileName(nupkg)}: {e.Reason}");
        }
    }

    private static string FullPath(Session s, string path) => Path.GetFullPath(path, s.Env.WorkingDirectory);

    private static string Short(string? sha256) => sha256 is { Length: > 12 } ? sha256[..12] : sha256 ?? "-";

    private static string Size(JsonElement p) =>
        p.Get("size") is { ValueKind: JsonValueKind.Number } n
            ? (n.GetInt64() / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KB"
            : "-";
}
