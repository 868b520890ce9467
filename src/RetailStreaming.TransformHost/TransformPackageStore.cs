using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using System.Xml;

namespace RetailStreaming.TransformHost;

/// <summary>A transform package extracted for loading: its lib folder for the running runtime.</summary>
/// <param name="Id">The package id, as its .nuspec spells it.</param>
/// <param name="Version">The normalized package version (<c>1.0.0</c>).</param>
/// <param name="TargetFramework">The lib folder chosen for the running runtime (<c>net8.0</c>).</param>
/// <param name="Directory">The folder holding the extracted lib folder's files.</param>
/// <param name="PackagePath">The .nupkg the folder was extracted from.</param>
/// <param name="Dependencies">The .nuspec dependencies that apply to <paramref name="TargetFramework"/>.</param>
public sealed record ExtractedTransformPackage(
    string Id,
    string Version,
    string TargetFramework,
    string Directory,
    string PackagePath,
    IReadOnlyList<PackageDependency> Dependencies);

/// <summary>
/// Transform packages in a folder of .nupkg files (a NuGet local feed, flat
/// <c>&lt;id&gt;.&lt;version&gt;.nupkg</c> or hierarchical <c>&lt;id&gt;/&lt;version&gt;/&lt;id&gt;.&lt;version&gt;.nupkg</c>),
/// extracted on demand into a cache folder <c>&lt;cache&gt;/&lt;id&gt;/&lt;version&gt;/</c>.
/// </summary>
/// <remarks>
/// Extraction writes to a temporary folder beside the target and renames it into place, so a reader
/// never sees a half-extracted package, and two workflows (or two nodes sharing a disk) loading the
/// same version at once both end up with the one complete copy. A published version is immutable:
/// when the .nupkg no longer matches the copy in the cache, loading fails instead of silently running
/// different code under the same version (replays rely on a version always producing the same output).
/// </remarks>
public sealed partial class TransformPackageStore
{
    private const string HashFileName = ".nupkg.sha512";
    private const string TempPrefix = ".extract-";
    private const long MaxExtractedBytes = 512L * 1024 * 1024;

    /// <summary>Creates a store over a feed folder and a cache folder (created when missing).</summary>
    /// <param name="feedDirectory">The folder holding the .nupkg files.</param>
    /// <param name="cacheDirectory">Where packages are extracted; may be shared by several hosts.</param>
    /// <param name="source">Published packages (the platform store), preferred to the feed folder; none when null.</param>
    public TransformPackageStore(string feedDirectory, string cacheDirectory, ITransformPackageSource? source = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(feedDirectory);
        ArgumentException.ThrowIfNullOrWhiteSpace(cacheDirectory);
        FeedDirectory = Path.GetFullPath(feedDirectory);
        CacheDirectory = Path.GetFullPath(cacheDirectory);
        _source = source;
    }

    private readonly ITransformPackageSource? _source;

    /// <summary>Where published packages are written through from the source, under the cache folder.</summary>
    private string PublishedDirectory => Path.Combine(CacheDirectory, ".published");

    /// <summary>The folder holding the .nupkg files.</summary>
    public string FeedDirectory { get; }

    /// <summary>The folder packages are extracted to.</summary>
    public string CacheDirectory { get; }

    /// <summary>The normalized versions of a package found in the feed, lowest first.</summary>
    public IReadOnlyList<string> GetVersions(string packageId) =>
        FindPackageFiles(packageId)
            .Select(f => f.Version)
            .Distinct()
            .Order()
            .Select(v => v.Normalized)
            .ToList();

    /// <summary>
    /// The content hash of <paramref name="packageId"/> <paramref name="version"/> in the feed (SHA-512
    /// of its lib/ entries, base64: what runs, not the zip's bytes), or null when the feed does not
    /// hold that version. Two hosts run the same code for a version when their hashes are equal.
    /// </summary>
    public string? ContentHash(string packageId, string version)
    {
        ArgumentNullException.ThrowIfNull(packageId);
        ArgumentNullException.ThrowIfNull(version);
        if (!IsValidId(packageId) || !PackageVersion.TryParse(version, out var wanted)) return null;
        var file = FindPackageFiles(packageId).FirstOrDefault(f => f.Version.Equals(wanted)).Path;
        return file is null ? null : HashOf(file);
    }

    /// <summary>
    /// Extracts the lib folder of <paramref name="packageId"/> <paramref name="version"/> that suits the
    /// running runtime (unless the cache already holds it) and returns where it is.
    /// </summary>
    /// <exception cref="TransformLoadException">The package is not in the feed, is not a valid package,
    /// or has no lib folder the runtime can load.</exception>
    public ExtractedTransformPackage Extract(string packageId, string version)
    {
        ArgumentNullException.ThrowIfNull(packageId);
        ArgumentNullException.ThrowIfNull(version);
        if (!IsValidId(packageId))
            throw new TransformLoadException(packageId, version,
                "the package id is not valid (letters, digits, '.', '-' and '_', at most 100 characters).");
        if (!PackageVersion.TryParse(version, out var wanted))
            throw new TransformLoadException(packageId, version, "the version is not a valid NuGet version (for example 1.2.0 or 1.2.0-beta.1).");

        // A published version wins over a file of the same version in the folder: it is what every
        // node of the cluster runs.
        var file = FetchPublished(packageId, wanted);
        var found = file is null ? FindPackageFiles(packageId).ToList() : [];
        file ??= found.FirstOrDefault(f => f.Version.Equals(wanted)).Path;
        if (file is null)
        {
            var available = found.Select(f => f.Version).Distinct().Order().Select(v => v.Normalized).ToList();
            var published = _source is null ? "" : " It is not published either (rsctl transform list).";
            throw new TransformLoadException(packageId, version, (available.Count == 0
                ? $"the package folder {FeedDirectory} holds no version of this package."
                : $"version {wanted.Normalized} is not in the package folder {FeedDirectory}; the versions there are {string.Join(", ", available)}.") + published);
        }

        try
        {
            return ExtractFile(packageId, version, wanted, file);
        }
        catch (InvalidDataException e)
        {
            throw new TransformLoadException(packageId, version,
                $"{Path.GetFileName(file)} is not a valid .nupkg (a corrupt or truncated zip archive): {e.Message}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TransformLoadException(packageId, version, $"{Path.GetFileName(file)} could not be read or extracted: {e.Message}", e);
        }
    }

    private ExtractedTransformPackage ExtractFile(string packageId, string requestedVersion, PackageVersion wanted, string file)
    {
        using var zip = ZipFile.OpenRead(file);
        var entries = zip.Entries.Select(e => (Entry: e, Name: EntryName(e))).ToList();

        var nuspecEntry = entries.FirstOrDefault(e => !e.Name.Contains('/') && e.Name.EndsWith(".nuspec", StringComparison.OrdinalIgnoreCase)).Entry
                          ?? throw new TransformLoadException(packageId, requestedVersion, $"{Path.GetFileName(file)} has no .nuspec at its root; it is not a NuGet package.");
        Nuspec nuspec;
        try
        {
            using var stream = nuspecEntry.Open();
            nuspec = Nuspec.Read(stream);
        }
        catch (Exception e) when (e is XmlException or FormatException)
        {
            throw new TransformLoadException(packageId, requestedVersion, $"the .nuspec of {Path.GetFileName(file)} cannot be read: {e.Message}", e);
        }
        if (!string.Equals(nuspec.Id, packageId, StringComparison.OrdinalIgnoreCase)
            || !PackageVersion.TryParse(nuspec.Version, out var nuspecVersion) || !nuspecVersion.Equals(wanted))
            throw new TransformLoadException(packageId, requestedVersion,
                $"{Path.GetFileName(file)} holds package {nuspec.Id} {nuspec.Version} according to its .nuspec; the file name and the .nuspec must agree.");

        // lib/<framework>/... ; only folders holding at least one assembly count.
        var libFolders = entries
            .Where(e => e.Name.StartsWith("lib/", StringComparison.OrdinalIgnoreCase) && !e.Name.EndsWith('/'))
            .Select(e => (e.Entry, e.Name, Framework: e.Name.Split('/') is { Length: >= 3 } parts ? parts[1] : null))
            .Where(e => e.Framework is not null)
            .GroupBy(e => e.Framework!, StringComparer.OrdinalIgnoreCase)
            .ToList();
        var best = libFolders
            .Where(g => g.Any(e => e.Name.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)))
            .Select(g => (Group: g, Rank: TargetFrameworkRank.For(g.Key)))
            .Where(g => g.Rank is not null)
            .OrderByDescending(g => g.Rank)
            .Select(g => g.Group)
            .FirstOrDefault();
        if (best is null)
            throw new TransformLoadException(packageId, requestedVersion, libFolders.Count == 0
                ? "the package has no lib/ folder, so it holds no assembly to load."
                : $"no lib folder can run on .NET {Environment.Version.Major} (found {string.Join(", ", libFolders.Select(g => "lib/" + g.Key))}; " +
                  $"expected lib/net{Environment.Version.Major}.0 or an earlier net5.0+, or lib/netstandard2.x, holding the assemblies).");

        var framework = best.Key.ToLowerInvariant();
        var result = new ExtractedTransformPackage(
            nuspec.Id,
            wanted.Normalized,
            framework,
            Path.Combine(CacheDirectory, nuspec.Id.ToLowerInvariant(), wanted.Normalized.ToLowerInvariant()),
            file,
            nuspec.DependenciesFor(framework));

        var hash = HashOf(file);
        if (Directory.Exists(result.Directory))
        {
            EnsureSameContent(result, hash, packageId, requestedVersion);
            return result;
        }

        var parent = Path.GetDirectoryName(result.Directory)!;
        Directory.CreateDirectory(parent);
        RemoveAbandonedTempFolders(parent);
        var temp = Path.Combine(parent, $"{TempPrefix}{Path.GetFileName(result.Directory)}-{Guid.NewGuid():N}");
        try
        {
            WriteFolder(best.Select(e => (e.Entry, Relative: e.Name[(e.Name.IndexOf('/', 4) + 1)..])), temp, packageId, requestedVersion);
            File.WriteAllText(Path.Combine(temp, HashFileName), hash);
            try
            {
                Directory.Move(temp, result.Directory);
            }
            catch (IOException) when (Directory.Exists(result.Directory))
            {
                // Another workflow or node extracted the same version first; its copy is complete
                // (it was renamed into place whole), so use it.
                EnsureSameContent(result, hash, packageId, requestedVersion);
            }
        }
        finally
        {
            if (Directory.Exists(temp)) TryDelete(temp);
        }
        return result;
    }

    /// <summary>
    /// The published .nupkg of a version, written through to the cache folder (fetched from the
    /// source only when the cached copy is missing or differs); null when it is not published.
    /// </summary>
    private string? FetchPublished(string packageId, PackageVersion wanted)
    {
        if (_source is null) return null;
        string? sha256;
        try
        {
            sha256 = _source.FindSha256(packageId, wanted.Normalized);
        }
        catch (Exception e) when (e is not TransformLoadException)
        {
            throw new TransformLoadException(packageId, wanted.Normalized, $"the platform store could not be asked for published packages: {e.Message}", e);
        }
        if (sha256 is null) return null;

        var path = Path.Combine(PublishedDirectory, $"{packageId.ToLowerInvariant()}.{wanted.Normalized.ToLowerInvariant()}.nupkg");
        if (File.Exists(path) && Sha256Of(File.ReadAllBytes(path)) == sha256) return path;
        var bytes = _source.Read(packageId, wanted.Normalized);
        if (Sha256Of(bytes) != sha256)
            throw new TransformLoadException(packageId, wanted.Normalized, "the published package read from the platform store does not match its recorded SHA-256; it is refused.");
        Directory.CreateDirectory(PublishedDirectory);
        // Whole or not at all: a reader never sees half a package.
        var temp = $"{path}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
        return path;
    }

    /// <summary>Lowercase hex SHA-256 of a .nupkg's bytes: how a published version is identified.</summary>
    public static string Sha256Of(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));

    /// <summary>The id and version a .nupkg's .nuspec gives.</summary>
    /// <exception cref="TransformLoadException">The file is not a NuGet package (not a zip, no .nuspec, no id or version).</exception>
    public static TransformPackageIdentity ReadIdentity(string nupkgPath)
    {
        var name = Path.GetFileName(nupkgPath);
        try
        {
            using var zip = ZipFile.OpenRead(nupkgPath);
            var entry = zip.Entries.FirstOrDefault(e => !EntryName(e).Contains('/') && e.FullName.EndsWith(".nuspec", StringComparison.OrdinalIgnoreCase))
                        ?? throw new TransformLoadException(name, "?", "the file has no .nuspec at its root; it is not a NuGet package.");
            using var stream = entry.Open();
            var nuspec = Nuspec.Read(stream);
            if (!IsValidId(nuspec.Id))
                throw new TransformLoadException(nuspec.Id, nuspec.Version, "the package id is not valid (letters, digits, '.', '-' and '_', at most 100 characters).");
            if (!PackageVersion.TryParse(nuspec.Version, out var version))
                throw new TransformLoadException(nuspec.Id, nuspec.Version, "the version is not a valid NuGet version.");
            return new TransformPackageIdentity(nuspec.Id, version.Normalized);
        }
        catch (Exception e) when (e is InvalidDataException or XmlException or FormatException)
        {
            throw new TransformLoadException(name, "?", $"the file is not a valid .nupkg: {e.Message}", e);
        }
    }

    private static void WriteFolder(IEnumerable<(ZipArchiveEntry Entry, string Relative)> files, string target, string packageId, string version)
    {
        var root = Path.GetFullPath(target) + Path.DirectorySeparatorChar;
        Directory.CreateDirectory(root);
        long total = 0;
        foreach (var (entry, relative) in files)
        {
            // Placeholder NuGet writes into an empty folder.
            if (Path.GetFileName(relative) == "_._") continue;
            var path = Path.GetFullPath(Path.Combine(root, relative));
            if (!path.StartsWith(root, StringComparison.Ordinal))
                throw new TransformLoadException(packageId, version, $"the entry '{entry.FullName}' points outside its folder; the package is refused.");
            total += entry.Length;
            if (total > MaxExtractedBytes)
                throw new TransformLoadException(packageId, version, $"the lib folder is larger than {MaxExtractedBytes / (1024 * 1024)} MB once extracted; the package is refused.");
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            entry.ExtractToFile(path, overwrite: false);
        }
    }

    private static void EnsureSameContent(ExtractedTransformPackage package, string hash, string packageId, string version)
    {
        var hashFile = Path.Combine(package.Directory, HashFileName);
        var cached = File.Exists(hashFile) ? File.ReadAllText(hashFile).Trim() : null;
        if (cached == hash) return;
        throw new TransformLoadException(packageId, version, cached is null
            ? $"the cache folder {package.Directory} exists but was not extracted by the transform host; delete it."
            : $"{Path.GetFileName(package.PackagePath)} differs from the copy extracted earlier to {package.Directory}. " +
              "A published version must not change (replays run the version that produced the output): publish a new version, " +
              "or delete the cached folder if the change is intended.");
    }

    /// <summary>
    /// The hash of what runs: the names and bytes of the package's lib/ entries, in name order.
    /// Not the .nupkg's bytes: every pack writes new zip timestamps and a random core-properties
    /// id, so a rebuild of unchanged code must not look like a republished version. Compilation is
    /// deterministic, so changed code does change the assemblies' bytes.
    /// </summary>
    private static string HashOf(string file)
    {
        using var zip = ZipFile.OpenRead(file);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
        foreach (var entry in zip.Entries
                     .Where(e => e.FullName.StartsWith("lib/", StringComparison.OrdinalIgnoreCase))
                     .OrderBy(e => e.FullName, StringComparer.Ordinal))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(entry.FullName + "\0" + entry.Length + "\0"));
            using var content = entry.Open();
            var buffer = new byte[81920];
            int read;
            while ((read = content.Read(buffer, 0, buffer.Length)) > 0)
                sha.AppendData(buffer, 0, read);
        }
        return Convert.ToBase64String(sha.GetHashAndReset());
    }

    private static void RemoveAbandonedTempFolders(string parent)
    {
        // A host killed in the middle of an extraction leaves its temporary folder behind.
        foreach (var dir in Directory.EnumerateDirectories(parent, TempPrefix + "*"))
        {
            if (Directory.GetLastWriteTimeUtc(dir) < DateTime.UtcNow.AddHours(-1))
                TryDelete(dir);
        }
    }

    private static void TryDelete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* best effort: retried on the next extraction */ }
    }

    // Zip entry names in a .nupkg are URI-escaped parts (OPC), with '/' separators.
    private static string EntryName(ZipArchiveEntry entry) =>
        Uri.UnescapeDataString(entry.FullName.Replace('\\', '/'));

    private IEnumerable<(string Path, PackageVersion Version)> FindPackageFiles(string packageId)
    {
        if (!IsValidId(packageId) || !Directory.Exists(FeedDirectory)) yield break;
        var candidates = Directory.EnumerateFiles(FeedDirectory, "*.nupkg");
        var idFolder = Directory.EnumerateDirectories(FeedDirectory)
            .FirstOrDefault(d => string.Equals(Path.GetFileName(d), packageId, StringComparison.OrdinalIgnoreCase));
        if (idFolder is not null)
            candidates = candidates.Concat(Directory.EnumerateDirectories(idFolder).SelectMany(d => Directory.EnumerateFiles(d, "*.nupkg")));
        foreach (var path in candidates)
        {
            var name = Path.GetFileNameWithoutExtension(path);
            if (name.Length > packageId.Length + 1
                && name.StartsWith(packageId + ".", StringComparison.OrdinalIgnoreCase)
                && PackageVersion.TryParse(name[(packageId.Length + 1)..], out var version))
                yield return (path, version);
        }
    }

    private static bool IsValidId(string id) => id.Length <= 100 && IdPattern().IsMatch(id);

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9._-]*$")]
    private static partial Regex IdPattern();
}
