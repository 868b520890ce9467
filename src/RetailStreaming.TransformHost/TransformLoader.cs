using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost;

/// <summary>A package version currently loaded, and how many transform instances use it.</summary>
/// <param name="PackageId">The package id.</param>
/// <param name="Version">The normalized version.</param>
/// <param name="Users">Live <see cref="LoadedTransform"/>s of this version.</param>
public sealed record LoadedPackage(string PackageId, string Version, int Users);

/// <summary>
/// Loads transforms from packages: one collectible <see cref="System.Runtime.Loader.AssemblyLoadContext"/>
/// per package version, shared by every workflow running that version and unloaded when the last of
/// them disposes its <see cref="LoadedTransform"/>. One loader serves a whole node.
/// </summary>
/// <remarks>
/// The SDK (<c>RetailStreaming.Transforms</c>) and the shared framework always come from the host, so
/// that the package's <see cref="ITransform"/> is the host's; a package may ship its own copy of the
/// SDK assembly, which is ignored. A package built against a newer SDK major version than the host's
/// is refused: it may call what this host does not have. Other dependencies must be shipped in the
/// package's lib folder (or be assemblies the host already has, which are then shared).
/// </remarks>
public sealed class TransformLoader
{
    private readonly TransformPackageStore _store;
    private readonly object _gate = new();
    private readonly Dictionary<string, Entry> _contexts = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Creates a loader over a package store.</summary>
    public TransformLoader(TransformPackageStore store) =>
        _store = store ?? throw new ArgumentNullException(nameof(store));

    /// <summary>The version of the SDK assembly the host runs transforms against.</summary>
    public static Version SdkVersion { get; } = TransformLoadContext.SdkAssembly.GetName().Version ?? new Version(0, 0);

    /// <summary>The package versions loaded now, with their number of users.</summary>
    public IReadOnlyList<LoadedPackage> LoadedPackages
    {
        get
        {
            lock (_gate)
                return _contexts.Values.Select(e => new LoadedPackage(e.PackageId, e.Version, e.Users)).ToList();
        }
    }

    /// <summary>
    /// Creates an instance of <paramref name="typeName"/> from <paramref name="packageId"/>
    /// <paramref name="version"/>; dispose the result when the workflow stops using it.
    /// </summary>
    /// <param name="packageId">The package id (case-insensitive).</param>
    /// <param name="version">The package version (NuGet rules: <c>1.0</c> is <c>1.0.0</c>).</param>
    /// <param name="typeName">The full name of a public class implementing <see cref="ITransform"/> with a public parameterless constructor.</param>
    /// <exception cref="TransformLoadException">The package or the type cannot be used; the message says why.</exception>
    public LoadedTransform Load(string packageId, string version, string typeName)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(typeName);
        var package = _store.Extract(packageId, version);
        var sdkVersion = CheckSdkVersion(package, packageId, version);

        var entry = Acquire(package);
        try
        {
            var type = FindTransformType(entry.Context, package, typeName, packageId, version);
            var instance = CreateInstance(type, package, packageId, version);
            return new LoadedTransform(() => Release(entry), package, type.FullName ?? typeName, instance, sdkVersion);
        }
        catch
        {
            Release(entry);
            throw;
        }
    }

    /// <summary>
    /// The full names of the public, concrete <see cref="ITransform"/> classes of a package version:
    /// what a workflow may name as its <c>transform.type</c>. Loads the package like
    /// <see cref="Load"/> does (and unloads it again when nothing else uses it).
    /// </summary>
    /// <exception cref="TransformLoadException">The package cannot be extracted or its assemblies cannot be loaded.</exception>
    public IReadOnlyList<string> FindTransformTypes(string packageId, string version)
    {
        var package = _store.Extract(packageId, version);
        CheckSdkVersion(package, packageId, version);
        var entry = Acquire(package);
        try
        {
            var names = new List<string>();
            foreach (var (file, name, _) in ReadAssemblies(package, packageId, version))
            {
                if (TransformLoadContext.IsShared(name)) continue;
                Assembly assembly;
                try
                {
                    assembly = entry.Context.LoadFromAssemblyName(new AssemblyName(name));
                }
                catch (Exception e) when (e is FileLoadException or BadImageFormatException or FileNotFoundException)
                {
                    throw new TransformLoadException(packageId, version, $"{Path.GetFileName(file)} cannot be loaded: {e.Message}", e);
                }
                Type[] types;
                try
                {
                    types = assembly.GetExportedTypes();
                }
                catch (Exception e) when (e is ReflectionTypeLoadException or TypeLoadException or FileNotFoundException or FileLoadException)
                {
                    throw new TransformLoadException(packageId, version,
                        $"the types of {Path.GetFileName(file)} cannot be loaded: {DescribeLoadFailure(e, package)}", e);
                }
                names.AddRange(types
                    .Where(t => t is { IsClass: true, IsAbstract: false, ContainsGenericParameters: false }
                                && typeof(ITransform).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
                    .Select(t => t.FullName!));
            }
            names.Sort(StringComparer.Ordinal);
            return names;
        }
        finally
        {
            Release(entry);
        }
    }

    private Entry Acquire(ExtractedTransformPackage package)
    {
        var key = $"{package.Id}/{package.Version}";
        lock (_gate)
        {
            if (!_contexts.TryGetValue(key, out var entry))
            {
                entry = new Entry(key, package.Id, package.Version,
                    new TransformLoadContext($"transform:{package.Id}/{package.Version}", package.Directory));
                _contexts.Add(key, entry);
            }
            entry.Users++;
            return entry;
        }
    }

    private void Release(Entry entry)
    {
        lock (_gate)
        {
            if (--entry.Users > 0) return;
            _contexts.Remove(entry.Key);
        }
        // Collectible: the context goes once nothing references its types, objects or running code.
        entry.Context.Unload();
        SerializerCaches.Clear();
    }

    /// <summary>The SDK version the package was built against (null when none of its assemblies references the SDK).</summary>
    private static Version? CheckSdkVersion(ExtractedTransformPackage package, string packageId, string version)
    {
        Version? highest = null;
        string? where = null;
        foreach (var (file, name, references) in ReadAssemblies(package, packageId, version))
        {
            if (TransformLoadContext.IsShared(name)) continue; // its own copy of the SDK or of a framework assembly: never loaded
            foreach (var reference in references.Where(r => string.Equals(r.Name, TransformLoadContext.SdkName, StringComparison.OrdinalIgnoreCase)))
            {
                if (highest is null || reference.Version > highest)
                    (highest, where) = (reference.Version, Path.GetFileName(file));
            }
        }
        var declared = package.Dependencies.FirstOrDefault(d => string.Equals(d.Id, TransformLoadContext.SdkName, StringComparison.OrdinalIgnoreCase));
        if (declared?.MinimumVersion is { } min && PackageVersion.TryParse(min, out var declaredVersion) && declaredVersion.Major > SdkVersion.Major)
            throw TooNew($"its .nuspec depends on {TransformLoadContext.SdkName} {declared.VersionRange}");
        if (highest is not null && highest.Major > SdkVersion.Major)
            throw TooNew($"{where} was built against {TransformLoadContext.SdkName} {highest}");
        return highest;

        TransformLoadException TooNew(string what) => new(packageId, version,
            $"{what}, a newer major version than the host's SDK {SdkVersion}. The host runs transforms built against SDK " +
            $"{SdkVersion.Major}.x or older; build the transform against SDK {SdkVersion.Major}.x, or run it on a newer platform.");
    }

    private static List<(string File, string Name, List<AssemblyName> References)> ReadAssemblies(
        ExtractedTransformPackage package, string packageId, string version)
    {
        var result = new List<(string, string, List<AssemblyName>)>();
        foreach (var file in Directory.EnumerateFiles(package.Directory, "*.dll").Order(StringComparer.Ordinal))
        {
            try
            {
                using var stream = File.OpenRead(file);
                using var pe = new PEReader(stream);
                if (!pe.HasMetadata) continue; // a native library
                var reader = pe.GetMetadataReader();
                if (!reader.IsAssembly) continue;
                var name = reader.GetString(reader.GetAssemblyDefinition().Name);
                var references = reader.AssemblyReferences
                    .Select(h => reader.GetAssemblyReference(h).GetAssemblyName())
                    .ToList();
                result.Add((file, name, references));
            }
            catch (BadImageFormatException e)
            {
                throw new TransformLoadException(packageId, version,
                    $"lib/{package.TargetFramework}/{Path.GetFileName(file)} is not a valid assembly: {e.Message}", e);
            }
        }
        return result;
    }

    private static Type FindTransformType(TransformLoadContext context, ExtractedTransformPackage package, string typeName, string packageId, string version)
    {
        // "Namespace.Type" or "Namespace.Type, Assembly".
        var comma = typeName.IndexOf(',');
        var wantedType = (comma >= 0 ? typeName[..comma] : typeName).Trim();
        var wantedAssembly = comma >= 0 ? typeName[(comma + 1)..].Split(',')[0].Trim() : null;

        var assemblies = new List<Assembly>();
        foreach (var (file, name, _) in ReadAssemblies(package, packageId, version))
        {
            if (TransformLoadContext.IsShared(name)) continue;
            if (wantedAssembly is not null && !string.Equals(name, wantedAssembly, StringComparison.OrdinalIgnoreCase)) continue;
            try
            {
                assemblies.Add(context.LoadFromAssemblyName(new AssemblyName(name)));
            }
            catch (Exception e) when (e is FileLoadException or BadImageFormatException or FileNotFoundException)
            {
                throw new TransformLoadException(packageId, version, $"{Path.GetFileName(file)} cannot be loaded: {e.Message}", e);
            }
        }
        if (assemblies.Count == 0)
            throw new TransformLoadException(packageId, version, wantedAssembly is null
                ? $"lib/{package.TargetFramework} holds no assembly of its own."
                : $"lib/{package.TargetFramework} has no assembly '{wantedAssembly}'.");

        Type? type = null;
        foreach (var assembly in assemblies)
        {
            try
            {
                type = assembly.GetType(wantedType, throwOnError: false);
            }
            catch (Exception e) when (e is TypeLoadException or FileNotFoundException or FileLoadException)
            {
                throw new TransformLoadException(packageId, version, $"type '{wantedType}' cannot be loaded: {DescribeLoadFailure(e, package)}", e);
            }
            if (type is not null) break;
        }

        if (type is null)
            throw new TransformLoadException(packageId, version, $"the package has no type '{wantedType}'. {DescribeTransformTypes(assemblies, package)}");
        if (!typeof(ITransform).IsAssignableFrom(type))
            throw new TransformLoadException(packageId, version,
                $"type '{type.FullName}' does not implement {typeof(ITransform).FullName}. {DescribeTransformTypes(assemblies, package)}");
        if (!type.IsClass || type.IsAbstract || type.ContainsGenericParameters)
            throw new TransformLoadException(packageId, version,
                $"type '{type.FullName}' is abstract or generic; name a concrete class. {DescribeTransformTypes(assemblies, package)}");
        if (!type.IsPublic && !type.IsNestedPublic)
            throw new TransformLoadException(packageId, version, $"type '{type.FullName}' is not public.");
        if (type.GetConstructor(Type.EmptyTypes) is null)
            throw new TransformLoadException(packageId, version,
                $"type '{type.FullName}' has no public parameterless constructor; the platform creates transforms with one and passes settings to Initialize.");
        return type;
    }

    private static ITransform CreateInstance(Type type, ExtractedTransformPackage package, string packageId, string version)
    {
        try
        {
            return (ITransform)Activator.CreateInstance(type)!;
        }
        catch (TargetInvocationException e) when (e.InnerException is { } inner)
        {
            throw new TransformLoadException(packageId, version,
                $"the constructor of '{type.FullName}' threw {inner.GetType().Name}: {DescribeLoadFailure(inner, package)}", inner);
        }
        catch (Exception e) when (e is TypeLoadException or FileNotFoundException or FileLoadException or MissingMethodException)
        {
            throw new TransformLoadException(packageId, version,
                $"'{type.FullName}' cannot be created: {DescribeLoadFailure(e, package)}", e);
        }
    }

    private static string DescribeTransformTypes(IEnumerable<Assembly> assemblies, ExtractedTransformPackage package)
    {
        var names = new List<string>();
        var failures = new List<string>();
        foreach (var assembly in assemblies)
        {
            Type?[] types;
            try
            {
                types = assembly.GetTypes();
            }
            catch (ReflectionTypeLoadException e)
            {
                types = e.Types;
                failures.AddRange(e.LoaderExceptions.OfType<Exception>().Select(x => DescribeLoadFailure(x, package)).Distinct());
            }
            names.AddRange(types
                .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(ITransform).IsAssignableFrom(t))
                .Select(t => t!.FullName!));
        }
        names.Sort(StringComparer.Ordinal);
        var text = names.Count == 0
            ? "The package contains no class implementing ITransform."
            : $"The ITransform types in the package are: {string.Join(", ", names)}.";
        return failures.Count == 0 ? text : $"{text} Some types could not be loaded: {string.Join("; ", failures.Take(3))}";
    }

    private static string DescribeLoadFailure(Exception e, ExtractedTransformPackage package)
    {
        if (e is FileNotFoundException or FileLoadException)
        {
            var dependencies = package.Dependencies
                .Where(d => !string.Equals(d.Id, TransformLoadContext.SdkName, StringComparison.OrdinalIgnoreCase))
                .Select(d => $"{d.Id} {d.VersionRange}")
                .ToList();
            return $"{e.Message} A transform package must ship the assemblies it depends on in its lib folder " +
                   "(the host provides only the SDK, the shared framework and its own assemblies)" +
                   (dependencies.Count == 0 ? "." : $"; its .nuspec lists {string.Join(", ", dependencies)}.");
        }
        return e.Message;
    }

    private sealed class Entry(string key, string packageId, string version, TransformLoadContext context)
    {
        public string Key { get; } = key;
        public string PackageId { get; } = packageId;
        public string Version { get; } = version;
        public TransformLoadContext Context { get; } = context;
        public int Users { get; set; }
    }
}
