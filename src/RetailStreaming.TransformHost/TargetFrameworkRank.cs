using System.Globalization;
using System.Text.RegularExpressions;

namespace RetailStreaming.TransformHost;

/// <summary>
/// Which target frameworks of a package the running runtime can load, best first: .NET 5+ up to
/// the runtime's own version, then .NET Core 2.x/3.x, then .NET Standard 2.x. Platform-specific
/// frameworks (<c>net8.0-windows</c>) and .NET Framework are not loadable by the host.
/// </summary>
internal static partial class TargetFrameworkRank
{
    /// <summary>The rank of a framework for this runtime (higher is better), or null when it cannot run here.</summary>
    /// <param name="framework">A lib folder name (<c>net8.0</c>) or a nuspec group name (<c>.NETCoreApp8.0</c>).</param>
    public static int? For(string framework) => For(framework, Environment.Version);

    internal static int? For(string framework, Version runtime)
    {
        var (kind, version) = Parse(framework);
        if (version is null) return null;
        return kind switch
        {
            "net" when version.Major >= 5 && version <= new Version(runtime.Major, runtime.Minor) =>
                30_000 + version.Major * 100 + version.Minor,
            "netcoreapp" when version.Major is 2 or 3 => 20_000 + version.Major * 100 + version.Minor,
            "netstandard" when version.Major == 2 => 10_000 + version.Minor,
            _ => null,
        };
    }

    /// <summary>The short folder name of a framework (<c>.NETCoreApp8.0</c> is <c>net8.0</c>), or the input when unknown.</summary>
    public static string ShortName(string framework)
    {
        var (kind, version) = Parse(framework);
        return version is null ? framework : $"{kind}{version.Major}.{version.Minor}";
    }

    private static (string Kind, Version? Version) Parse(string framework)
    {
        var m = FrameworkPattern().Match(framework.Trim());
        if (!m.Success) return ("", null);
        var kind = m.Groups["kind"].Value.ToLowerInvariant() switch
        {
            ".netcoreapp" => "net",
            "netcoreapp" => "netcoreapp",
            ".netstandard" or "netstandard" => "netstandard",
            "net" => "net",
            _ => "",
        };
        var major = int.Parse(m.Groups["major"].Value, CultureInfo.InvariantCulture);
        var minor = m.Groups["minor"].Success ? int.Parse(m.Groups["minor"].Value, CultureInfo.InvariantCulture) : 0;
        // ".NETCoreApp3.1" is netcoreapp3.1; ".NETCoreApp5.0" and later are net5.0+.
        if (kind == "net" && major < 5)
            kind = m.Groups["kind"].Value.StartsWith('.') ? "netcoreapp" : "netframework";
        return (kind, new Version(major, minor));
    }

    // Dotted versions only: "net48" (no dot) is .NET Framework, which the host cannot load.
    [GeneratedRegex(@"^(?<kind>\.NETCoreApp|netcoreapp|\.NETStandard|netstandard|net)(?<major>\d+)\.(?<minor>\d+)$", RegexOptions.IgnoreCase)]
    private static partial Regex FrameworkPattern();
}
