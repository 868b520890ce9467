using static RetailStreaming.TransformHost.Tests.TestPackages;

namespace RetailStreaming.TransformHost.Tests;

/// <summary>Published packages (the platform store) are preferred to the folder, written through to the cache, and checked.</summary>
public sealed class PublishedPackageTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private sealed class Source : ITransformPackageSource
    {
        public Dictionary<string, byte[]> Packages { get; } = new(StringComparer.OrdinalIgnoreCase);
        public string? Sha256Override { get; set; }
        public int Reads { get; private set; }

        public string? FindSha256(string packageId, string version) =>
            Packages.TryGetValue($"{packageId}/{version}", out var bytes) ? Sha256Override ?? TransformPackageStore.Sha256Of(bytes) : null;

        public byte[] Read(string packageId, string version)
        {
            Reads++;
            return Packages[$"{packageId}/{version}"];
        }
    }

    private static byte[] SampleBytes() => System.IO.File.ReadAllBytes(Path.Combine(Feed, $"{SampleId}.1.0.0.nupkg"));

    [Fact]
    public void A_published_version_loads_from_the_source_once_and_the_folder_is_the_fallback()
    {
        var source = new Source();
        source.Packages[$"{SampleId}/1.0.0"] = SampleBytes();
        var emptyFeed = _temp.Sub("empty-feed");
        var loader = new TransformLoader(new TransformPackageStore(emptyFeed, _temp.Sub("cache"), source));

        using (var loaded = loader.Load(SampleId, "1.0.0", SampleType)) Assert.Equal("1.0.0", loaded.Version);
        using (loader.Load(SampleId, "1.0", SampleType)) { }
        Assert.Equal(1, source.Reads); // the written-through copy serves the second load
        Assert.True(System.IO.File.Exists(Path.Combine(_temp.Sub("cache"), ".published", "retailstreaming.samples.retail.1.0.0.nupkg")));

        // Not published: the folder answers, and the error names both places.
        using (new TransformLoader(new TransformPackageStore(Feed, _temp.Sub("cache2"), new Source())).Load(SampleId, "1.0.0", SampleType)) { }
        var e = Assert.Throws<TransformLoadException>(() => loader.Load(SampleId, "2.0.0", SampleType));
        Assert.Contains("It is not published either (rsctl transform list).", e.Message);
    }

    [Fact]
    public void Bytes_that_do_not_match_the_published_checksum_are_refused()
    {
        var source = new Source { Sha256Override = new string('a', 64) };
        source.Packages[$"{SampleId}/1.0.0"] = SampleBytes();
        var store = new TransformPackageStore(Feed, _temp.Sub("cache"), source);

        var e = Assert.Throws<TransformLoadException>(() => store.Extract(SampleId, "1.0.0"));

        Assert.Contains("does not match its recorded SHA-256", e.Message);
    }

    [Fact]
    public void Transform_types_and_identity_are_read_from_a_package()
    {
        var loader = new TransformLoader(Store(_temp));

        Assert.Equal([SampleType], loader.FindTransformTypes(SampleId, "1.0.0"));
        Assert.Empty(loader.LoadedPackages); // unloaded again
        Assert.Equal(new TransformPackageIdentity(SampleId, "1.0.0"), TransformPackageStore.ReadIdentity(Path.Combine(Feed, $"{SampleId}.1.0.0.nupkg")));
        var notAPackage = _temp.Sub("x.nupkg");
        Directory.CreateDirectory(_temp.Path);
        System.IO.File.WriteAllText(notAPackage, "hello");
        Assert.Contains("is not a valid .nupkg", Assert.Throws<TransformLoadException>(() => TransformPackageStore.ReadIdentity(notAPackage)).Message);
    }
}
