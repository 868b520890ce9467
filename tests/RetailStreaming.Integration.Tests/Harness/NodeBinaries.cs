using System.Reflection;

namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>
/// Where the node's build output is: src/RetailStreaming.Node/bin/&lt;Configuration&gt;/&lt;tfm&gt;/ of this
/// repository, for the configuration and target framework this test assembly was built with.
/// </summary>
/// <remarks>
/// The folder is copied once per test run into a temporary folder, and the nodes run from that
/// copy: other builds may rewrite the original while a test's node is running or being restarted.
/// Set RS_IT_NODE_DIR to run the node from another folder instead.
/// </remarks>
public static class NodeBinaries
{
    private const string DllName = "RetailStreaming.Node.dll";
    private const string CopyPrefix = "rs-it-node-bin-";
    private static readonly Lazy<string> CopiedDll = new(CopyOnce, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The node's dll in the per-run copy (copied on first use).</summary>
    public static string NodeDll => CopiedDll.Value;

    /// <summary>Debug or Release: the configuration this test assembly was built with.</summary>
    public static string Configuration =>
        typeof(NodeBinaries).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    /// <summary>The repository root: the first folder above the test assembly that holds RetailStreaming.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "RetailStreaming.sln")))
                return dir.FullName;
        throw new InvalidOperationException(
            $"Cannot find the repository root (a folder holding RetailStreaming.sln) above {AppContext.BaseDirectory}.");
    }

    /// <summary>The node's build output folder this test run uses (not the copy).</summary>
    public static string SourceDirectory()
    {
        if (Environment.GetEnvironmentVariable("RS_IT_NODE_DIR") is { Length: > 0 } custom)
            return Path.GetFullPath(custom);
        // The test assembly sits in bin/<Configuration>/<tfm>/; the node was built for the same pair.
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;
        return Path.Combine(RepositoryRoot(), "src", "RetailStreaming.Node", "bin", Configuration, framework);
    }

    private static string CopyOnce()
    {
        var source = SourceDirectory();
        string[] required =
        [
            DllName,
            "RetailStreaming.Node.runtimeconfig.json",
            "RetailStreaming.Node.deps.json",
            Path.Combine("cluster-config", "local.json"),
        ];
        var missing = required.Where(f => !File.Exists(Path.Combine(source, f))).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException(
                $"The node's build output is incomplete: {string.Join(", ", missing)} missing in {source}. " +
                $"Build it first: dotnet build src/RetailStreaming.Node -c {Configuration}.");

        RemoveCopiesOfEndedRuns();
        var target = Directory.CreateTempSubdirectory($"{CopyPrefix}{Environment.ProcessId}-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(target);
        CopyDirectory(source, target);
        // The node's build copies the sample package beside it; take it from wherever the build
        // left it when that copy is missing, so that the tests do not hang on the build's order.
        RetailStreaming.TestSupport.SamplePackages.EnsureIn(Path.Combine(target, "transform-packages"));
        return Path.Combine(target, DllName);
    }

    /// <summary>
    /// The test host is not always given the time to run ProcessExit handlers, so a copy can stay
    /// behind: copies whose test process is gone are removed at the next run.
    /// </summary>
    private static void RemoveCopiesOfEndedRuns()
    {
        foreach (var dir in Directory.GetDirectories(Path.GetTempPath(), CopyPrefix + "*"))
        {
            var name = Path.GetFileName(dir)[CopyPrefix.Length..];
            var dash = name.IndexOf('-');
            if (dash <= 0 || !int.TryParse(name[..dash], out var pid)) continue;
            if (!ProcessRuns(pid)) TryDelete(dir);
        }
    }

    private static bool ProcessRuns(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static void CopyDirectory(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source))
            CopyFile(file, Path.Combine(target, Path.GetFileName(file)));
        foreach (var dir in Directory.GetDirectories(source))
            CopyDirectory(dir, Path.Combine(target, Path.GetFileName(dir)));
    }

    private static void CopyFile(string from, string to)
    {
        // A concurrent build may hold a file for a moment.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                File.Copy(from, to, overwrite: true);
                return;
            }
            catch (IOException) when (attempt < 10)
            {
                Thread.Sleep(200);
            }
        }
    }

    internal static void TryDelete(string directory)
    {
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a temp folder left behind is not a test failure.
        }
    }
}
