namespace RetailStreaming.TestSupport;

/// <summary>
/// Finds the sample transform's package (RetailStreaming.Samples.Retail) for tests and benchmarks.
/// </summary>
/// <remarks>
/// The sample packs itself on build into samples/RetailStreaming.Samples.Retail/bin/&lt;Configuration&gt;/packages;
/// the node's, some test projects' and the benchmarks' builds pack it again into transform-packages/
/// beside their binaries (build/TransformPackages.targets). Every place is tried; the error names
/// every folder looked in.
/// </remarks>
public static class SamplePackages
{
    /// <summary>The file name of the sample package.</summary>
    public const string SampleFileName = "RetailStreaming.Samples.Retail.1.0.0.nupkg";

    /// <summary>The folder holding <see cref="SampleFileName"/>: beside the binaries, else the sample's pack folder, else the node's output.</summary>
    public static string Directory()
    {
        var tried = Candidates().ToList();
        foreach (var candidate in tried)
            if (File.Exists(Path.Combine(candidate, SampleFileName)))
                return candidate;
        throw new InvalidOperationException(
            $"{SampleFileName} was not found in any of: {string.Join(", ", tried)}. " +
            "Build the solution first (dotnet build RetailStreaming.sln -c Release): the sample transform packs itself on build.");
    }

    /// <summary>The full path of the sample package.</summary>
    public static string SamplePath() => Path.Combine(Directory(), SampleFileName);

    /// <summary>Copies the sample package into <paramref name="folder"/> unless it is there already.</summary>
    public static void EnsureIn(string folder)
    {
        var target = Path.Combine(folder, SampleFileName);
        if (File.Exists(target)) return;
        System.IO.Directory.CreateDirectory(folder);
        File.Copy(SamplePath(), target, overwrite: true);
    }

    /// <summary>The repository root: the first folder above the binaries that holds RetailStreaming.sln.</summary>
    public static string? RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "RetailStreaming.sln")))
                return dir.FullName;
        return null;
    }

    private static IEnumerable<string> Candidates()
    {
        yield return Path.Combine(AppContext.BaseDirectory, "transform-packages");
        if (RepositoryRoot() is not { } root) yield break;
        // The configuration of the running binaries first (bin/<Configuration>/<tfm>/).
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var own = framework.Parent?.Name;
        var configurations = new[] { own, "Release", "Debug" }.Where(c => c is { Length: > 0 }).Distinct(StringComparer.Ordinal);
        foreach (var configuration in configurations)
        {
            yield return Path.Combine(root, "samples", "RetailStreaming.Samples.Retail", "bin", configuration!, "packages");
            yield return Path.Combine(root, "src", "RetailStreaming.Node", "bin", configuration!, "net10.0", "transform-packages");
        }
    }
}
