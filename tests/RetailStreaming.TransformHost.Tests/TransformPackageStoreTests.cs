using System.Text;
using static RetailStreaming.TransformHost.Tests.TestPackages;

namespace RetailStreaming.TransformHost.Tests;

public sealed class TransformPackageStoreTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static (string, byte[]) File(string name) => (name, Encoding.UTF8.GetBytes("not really an assembly: " + name));

    [Fact]
    public void Extracts_the_sample_package_lib_folder_into_the_cache()
    {
        var store = Store(_temp);

        var package = store.Extract(SampleId, "1.0.0");

        Assert.Equal(SampleId, package.Id);
        Assert.Equal("1.0.0", package.Version);
        Assert.Equal("net8.0", package.TargetFramework);
        Assert.Equal(Path.Combine(_temp.Sub("cache"), "retailstreaming.samples.retail", "1.0.0"), package.Directory);
        Assert.True(System.IO.File.Exists(Path.Combine(package.Directory, "RetailStreaming.Samples.Retail.dll")));
        var sdk = Assert.Single(package.Dependencies);
        Assert.Equal("RetailStreaming.Transforms", sdk.Id);
        Assert.Equal("1.0.0", sdk.MinimumVersion);
    }

    [Fact]
    public void Matches_the_id_case_insensitively_and_the_version_normalized()
    {
        var store = Store(_temp);

        var first = store.Extract(SampleId, "1.0.0");
        var second = store.Extract("retailstreaming.SAMPLES.retail", "1.0");
        var third = store.Extract(SampleId, "1.0.0.0+build.5");

        Assert.Equal(first.Directory, second.Directory);
        Assert.Equal(first.Directory, third.Directory);
        Assert.Equal(SampleId, second.Id);
    }

    [Fact]
    public void A_missing_version_lists_the_versions_in_the_folder()
    {
        var feed = _temp.Sub("feed");
        foreach (var v in new[] { "1.10.0", "1.2.0", "1.0.0-beta.2", "1.0.0" })
            WriteNupkg(feed, "Acme.Sales", v, [File("lib/net8.0/Acme.Sales.dll")]);
        var store = new TransformPackageStore(feed, _temp.Sub("cache"));

        var e = Assert.Throws<TransformLoadException>(() => store.Extract("Acme.Sales", "2.0.0"));

        Assert.Equal("Acme.Sales", e.PackageId);
        Assert.Equal("2.0.0", e.Version);
        Assert.Contains("Acme.Sales 2.0.0", e.Message);
        Assert.Contains("the versions there are 1.0.0-beta.2, 1.0.0, 1.2.0, 1.10.0", e.Message);
        Assert.Equal(["1.0.0-beta.2", "1.0.0", "1.2.0", "1.10.0"], store.GetVersions("acme.sales"));
    }

    [Fact]
    public void A_missing_version_of_the_sample_lists_1_0_0()
    {
        var e = Assert.Throws<TransformLoadException>(() => Store(_temp).Extract(SampleId, "9.9.9"));
        Assert.Contains("versions there are 1.0.0", e.Message);
    }

    [Fact]
    public void An_unknown_package_says_the_folder_holds_none_of_it()
    {
        var e = Assert.Throws<TransformLoadException>(() => Store(_temp).Extract("Acme.Nothing", "1.0.0"));
        Assert.Contains("holds no version of this package", e.Message);
    }

    [Fact]
    public void An_invalid_id_or_version_is_refused_before_touching_the_disk()
    {
        var store = Store(_temp);
        Assert.Contains("id is not valid", Assert.Throws<TransformLoadException>(() => store.Extract("../etc", "1.0.0")).Message);
        Assert.Contains("not a valid NuGet version", Assert.Throws<TransformLoadException>(() => store.Extract(SampleId, "one")).Message);
    }

    [Fact]
    public void Finds_packages_in_a_hierarchical_feed()
    {
        var feed = _temp.Sub("feed");
        WriteNupkg(Path.Combine(feed, "acme.sales", "2.1.0"), "Acme.Sales", "2.1.0", [File("lib/net8.0/Acme.Sales.dll")], fileName: "acme.sales.2.1.0.nupkg");
        var store = new TransformPackageStore(feed, _temp.Sub("cache"));

        Assert.Equal("2.1.0", store.Extract("Acme.Sales", "2.1.0").Version);
    }

    [Fact]
    public void Picks_the_newest_framework_the_runtime_can_run()
    {
        var feed = _temp.Sub("feed");
        WriteNupkg(feed, "Acme.Sales", "1.0.0",
        [
            File("lib/netstandard2.0/Standard.dll"),
            File("lib/net8.0/Net8.dll"),
            File("lib/net9.0/Net9.dll"),
            File("lib/net9.0/fr/Net9.resources.dll"),
            File($"lib/net{Environment.Version.Major + 1}.0/Future.dll"),
            File("lib/net48/Framework.dll"),
            File("lib/net9.0-windows/Windows.dll"),
        ]);

        var package = new TransformPackageStore(feed, _temp.Sub("cache")).Extract("Acme.Sales", "1.0.0");

        Assert.Equal("net9.0", package.TargetFramework);
        var files = Directory.EnumerateFiles(package.Directory, "*.dll", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(package.Directory, f)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["Net9.dll", Path.Combine("fr", "Net9.resources.dll")], files);
    }

    [Fact]
    public void Prefers_the_running_runtime_then_falls_back_to_net_standard()
    {
        var feed = _temp.Sub("feed");
        var current = $"net{Environment.Version.Major}.0";
        WriteNupkg(feed, "Acme.Current", "1.0.0", [File("lib/net8.0/A.dll"), File($"lib/{current}/A.dll"), File("lib/netstandard2.1/A.dll")]);
        WriteNupkg(feed, "Acme.Standard", "1.0.0", [File("lib/netstandard2.0/A.dll"), File("lib/netstandard2.1/A.dll"), File("lib/net48/A.dll")]);
        var store = new TransformPackageStore(feed, _temp.Sub("cache"));

        Assert.Equal(current, store.Extract("Acme.Current", "1.0.0").TargetFramework);
        Assert.Equal("netstandard2.1", store.Extract("Acme.Standard", "1.0.0").TargetFramework);
    }

    [Fact]
    public void A_package_without_a_loadable_lib_folder_is_refused_naming_what_it_has()
    {
        var feed = _temp.Sub("feed");
        WriteNupkg(feed, "Acme.Old", "1.0.0", [File("lib/net48/Old.dll"), File("lib/net8.0-windows/Old.dll"), File("lib/net8.0/readme.txt")]);
        WriteNupkg(feed, "Acme.Empty", "1.0.0", [File("content/readme.txt")]);
        var store = new TransformPackageStore(feed, _temp.Sub("cache"));

        var old = Assert.Throws<TransformLoadException>(() => store.Extract("Acme.Old", "1.0.0"));
        Assert.Contains("no lib folder can run", old.Message);
        Assert.Contains("lib/net48", old.Message);
        Assert.Contains("lib/net8.0-windows", old.Message);
        var empty = Assert.Throws<TransformLoadException>(() => store.Extract("Acme.Empty", "1.0.0"));
        Assert.Contains("has no lib/ folder", empty.Message);
    }

    [Fact]
    public void A_corrupt_package_is_reported_as_such()
    {
        var feed = _temp.Sub("feed");
        Directory.CreateDirectory(feed);
        System.IO.File.WriteAllBytes(Path.Combine(feed, "Acme.Broken.1.0.0.nupkg"), Encoding.UTF8.GetBytes("PK this is not a zip"));
        var store = new TransformPackageStore(feed, _temp.Sub("cache"));

        var e = Assert.Throws<TransformLoadException>(() => store.Extract("Acme.Broken", "1.0.0"));

        Assert.Equal("Acme.Broken", e.PackageId);
        Assert.Contains("Acme.Broken 1.0.0", e.Message);
        Assert.Contains("corrupt or truncated zip", e.Message);
    }

    [Fact]
    public void A_package_whose_nuspec_disagrees_with_its_file_name_is_refused()
    {
        var feed = _temp.Sub("feed");
        WriteNupkg(feed, "Acme.Other", "3.0.0", [File("lib/net8.0/A.dll")], fileName: "Acme.Sales.1.0.0.nupkg");

        var e = Assert.Throws<TransformLoadException>(() => new TransformPackageStore(feed, _temp.Sub("cache")).Extract("Acme.Sales", "1.0.0"));

        Assert.Contains("Acme.Other 3.0.0 according to its .nuspec", e.Message);
    }

    [Fact]
    public void An_entry_pointing_outside_the_lib_folder_is_refused()
    {
        var feed = _temp.Sub("feed");
        WriteNupkg(feed, "Acme.Evil", "1.0.0", [File("lib/net8.0/A.dll"), File("lib/net8.0/../../../../evil.dll")]);

        var e = Assert.Throws<TransformLoadException>(() => new TransformPackageStore(feed, _temp.Sub("cache")).Extract("Acme.Evil", "1.0.0"));

        Assert.Contains("points outside its folder", e.Message);
        Assert.False(System.IO.File.Exists(Path.Combine(_temp.Path, "evil.dll")));
        Assert.False(Directory.Exists(Path.Combine(_temp.Sub("cache"), "acme.evil", "1.0.0")));
    }

    [Fact]
    public void Concurrent_extractions_of_one_version_all_get_the_one_complete_copy()
    {
        var cache = _temp.Sub("cache");
        var results = new string[8];
        using var start = new Barrier(results.Length);

        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = results.Length }, i =>
        {
            var store = new TransformPackageStore(Feed, cache); // as two workflows, or two nodes sharing the disk
            start.SignalAndWait();
            results[i] = store.Extract(SampleId, "1.0.0").Directory;
        });

        Assert.Single(results.Distinct());
        Assert.True(System.IO.File.Exists(Path.Combine(results[0], "RetailStreaming.Samples.Retail.dll")));
        Assert.Equal(ReadEntry(SampleId, "lib/net8.0/RetailStreaming.Samples.Retail.dll"),
            System.IO.File.ReadAllBytes(Path.Combine(results[0], "RetailStreaming.Samples.Retail.dll")));
        // Losers of the race clean up their temporary folders.
        Assert.Equal(["1.0.0"], Directory.EnumerateDirectories(Path.Combine(cache, "retailstreaming.samples.retail")).Select(Path.GetFileName));
    }

    [Fact]
    public void A_version_republished_with_other_content_is_refused()
    {
        var feed = _temp.Sub("feed");
        var store = new TransformPackageStore(feed, _temp.Sub("cache"));
        WriteNupkg(feed, "Acme.Sales", "1.0.0", [File("lib/net8.0/A.dll")]);
        store.Extract("Acme.Sales", "1.0.0");

        System.IO.File.Delete(Path.Combine(feed, "Acme.Sales.1.0.0.nupkg"));
        WriteNupkg(feed, "Acme.Sales", "1.0.0", [File("lib/net8.0/B.dll")]);
        var e = Assert.Throws<TransformLoadException>(() => store.Extract("Acme.Sales", "1.0.0"));

        Assert.Contains("must not change", e.Message);
    }

    [Fact]
    public void A_version_packed_again_from_the_same_code_is_accepted()
    {
        // Every pack writes new zip timestamps and a new core-properties file; only the assemblies
        // count, so rebuilding unchanged code is not a republished version.
        var feed = _temp.Sub("feed");
        var store = new TransformPackageStore(feed, _temp.Sub("cache"));
        var dll = File("lib/net8.0/A.dll");
        WriteNupkg(feed, "Acme.Sales", "1.0.0", [dll]);
        store.Extract("Acme.Sales", "1.0.0");

        System.IO.File.Delete(Path.Combine(feed, "Acme.Sales.1.0.0.nupkg"));
        WriteNupkg(feed, "Acme.Sales", "1.0.0", [dll, ("package/services/metadata/core-properties/other.psmdcp", [1, 2, 3])]);

        var again = store.Extract("Acme.Sales", "1.0.0");
        Assert.True(System.IO.File.Exists(Path.Combine(again.Directory, "A.dll")));
    }
}
