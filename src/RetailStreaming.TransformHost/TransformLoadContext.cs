using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;
using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost;

/// <summary>
/// The collectible load context of one transform package version. It resolves the package's own
/// assemblies from its extracted lib folder, and leaves the SDK and the shared framework to the
/// host's default context: were the package's copy of <c>RetailStreaming.Transforms</c> loaded
/// here, its <see cref="ITransform"/> would be a different type from the host's and no instance
/// could be used as one.
/// </summary>
internal sealed class TransformLoadContext : AssemblyLoadContext
{
    internal static readonly Assembly SdkAssembly = typeof(ITransform).Assembly;
    internal static readonly string SdkName = SdkAssembly.GetName().Name!;

    private static readonly Lazy<HashSet<string>> FrameworkAssemblies = new(ReadFrameworkAssemblies);

    private readonly string _directory;

    public TransformLoadContext(string name, string directory) : base(name, isCollectible: true) =>
        _directory = directory;

    /// <summary>True for the SDK and for assemblies of the shared framework, which always come from the host.</summary>
    public static bool IsShared(string assemblyName) =>
        string.Equals(assemblyName, SdkName, StringComparison.OrdinalIgnoreCase)
        || FrameworkAssemblies.Value.Contains(assemblyName);

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        var name = assemblyName.Name;
        if (name is null) return null;
        // The host's SDK whatever version the package was built against: the loader has already
        // refused packages built against a newer major version.
        if (string.Equals(name, SdkName, StringComparison.OrdinalIgnoreCase)) return SdkAssembly;
        if (IsShared(name)) return null;

        var folder = string.IsNullOrEmpty(assemblyName.CultureName) || assemblyName.CultureName == "neutral"
            ? _directory
            : Path.Combine(_directory, assemblyName.CultureName);
        var path = Path.Combine(folder, name + ".dll");
        // Not in the package: fall back to the host's default context (an assembly the host ships too).
        return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
    }

    private static HashSet<string> ReadFrameworkAssemblies()
    {
        // The trusted platform assemblies that live under the dotnet "shared" folder are the shared
        // frameworks (Microsoft.NETCore.App, Microsoft.AspNetCore.App).
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var runtimeDir = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar);
        var sharedRoot = Path.GetDirectoryName(Path.GetDirectoryName(runtimeDir));
        var tpa = AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string ?? "";
        foreach (var path in tpa.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var inShared = sharedRoot is not null && path.StartsWith(sharedRoot + Path.DirectorySeparatorChar, StringComparison.Ordinal);
            var inRuntime = path.StartsWith(runtimeDir + Path.DirectorySeparatorChar, StringComparison.Ordinal);
            if (inShared || inRuntime) names.Add(Path.GetFileNameWithoutExtension(path));
        }
        return names;
    }
}
