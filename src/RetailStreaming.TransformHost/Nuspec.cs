using System.Xml;
using System.Xml.Linq;

namespace RetailStreaming.TransformHost;

/// <summary>A dependency declared by a package's .nuspec.</summary>
/// <param name="Id">The package id of the dependency.</param>
/// <param name="VersionRange">The version range as written (<c>1.0.0</c> means 1.0.0 or later; <c>[1.0.0, 2.0.0)</c>).</param>
public sealed record PackageDependency(string Id, string VersionRange)
{
    /// <summary>The lowest version the range allows, or null when it has no lower bound.</summary>
    public string? MinimumVersion
    {
        get
        {
            var range = VersionRange.Trim();
            if (range.Length == 0) return null;
            if (range[0] is not ('[' or '(')) return range;
            var lower = range[1..].Split(',')[0].TrimEnd(']', ')').Trim();
            return lower.Length == 0 ? null : lower;
        }
    }
}

/// <summary>What the host reads from a package's .nuspec: id, version and dependency groups.</summary>
internal sealed record Nuspec(string Id, string Version, IReadOnlyList<(string? Framework, IReadOnlyList<PackageDependency> Dependencies)> DependencyGroups)
{
    public static Nuspec Read(Stream stream)
    {
        // NuGet has used several nuspec namespaces over the years; match on local names only.
        var settings = new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null };
        using var reader = XmlReader.Create(stream, settings);
        var doc = XDocument.Load(reader);
        var metadata = doc.Root?.Elements().FirstOrDefault(e => e.Name.LocalName == "metadata")
                       ?? throw new FormatException("the .nuspec has no <metadata> element");
        string Field(string name) =>
            metadata.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value.Trim() is { Length: > 0 } v
                ? v
                : throw new FormatException($"the .nuspec has no <{name}>");

        var groups = new List<(string?, IReadOnlyList<PackageDependency>)>();
        var dependencies = metadata.Elements().FirstOrDefault(e => e.Name.LocalName == "dependencies");
        if (dependencies is not null)
        {
            var flat = ReadDependencies(dependencies);
            if (flat.Count > 0) groups.Add((null, flat));
            foreach (var group in dependencies.Elements().Where(e => e.Name.LocalName == "group"))
                groups.Add(((string?)group.Attribute("targetFramework"), ReadDependencies(group)));
        }
        return new Nuspec(Field("id"), Field("version"), groups);
    }

    private static List<PackageDependency> ReadDependencies(XElement parent) =>
        parent.Elements()
            .Where(e => e.Name.LocalName == "dependency" && !string.IsNullOrWhiteSpace((string?)e.Attribute("id")))
            .Select(e => new PackageDependency(((string)e.Attribute("id")!).Trim(), ((string?)e.Attribute("version"))?.Trim() ?? ""))
            .ToList();

    /// <summary>The dependencies that apply to the lib folder chosen for <paramref name="framework"/>, NuGet's nearest-group rule.</summary>
    public IReadOnlyList<PackageDependency> DependenciesFor(string framework)
    {
        var exact = DependencyGroups.FirstOrDefault(g =>
            g.Framework is not null && string.Equals(TargetFrameworkRank.ShortName(g.Framework), framework, StringComparison.OrdinalIgnoreCase));
        if (exact.Dependencies is not null) return exact.Dependencies;
        var best = DependencyGroups
            .Where(g => g.Framework is not null && TargetFrameworkRank.For(g.Framework) is not null)
            .OrderByDescending(g => TargetFrameworkRank.For(g.Framework!))
            .FirstOrDefault();
        if (best.Dependencies is not null) return best.Dependencies;
        return DependencyGroups.FirstOrDefault(g => g.Framework is null).Dependencies ?? [];
    }
}
