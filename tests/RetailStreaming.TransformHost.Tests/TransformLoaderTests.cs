using System.Runtime.CompilerServices;
using System.Runtime.Loader;
using RetailStreaming.Transforms;
using static RetailStreaming.TransformHost.Tests.TestPackages;

namespace RetailStreaming.TransformHost.Tests;

public sealed class TransformLoaderTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private TransformLoader Loader() => new(Store(_temp));

    [Fact]
    public void Loads_the_sample_transform_against_the_hosts_SDK()
    {
        using var loaded = Loader().Load(SampleId, "1.0.0", SampleType);

        var type = loaded.Transform.GetType();
        Assert.Equal(SampleType, type.FullName);
        Assert.Equal(SampleType, loaded.TypeName);
        Assert.Equal("1.0.0", loaded.Version);
        Assert.Equal("net8.0", loaded.TargetFramework);
        Assert.Equal(new Version(1, 0, 0, 0), loaded.SdkVersion);
        // The contract type is the host's own, not a copy loaded beside the package.
        Assert.Contains(typeof(ITransform), type.GetInterfaces());
        Assert.Same(typeof(ITransform).Assembly, type.GetInterface(nameof(ITransform))!.Assembly);
        var context = AssemblyLoadContext.GetLoadContext(type.Assembly)!;
        Assert.NotSame(AssemblyLoadContext.Default, context);
        Assert.True(context.IsCollectible);
        Assert.Same(AssemblyLoadContext.Default, AssemblyLoadContext.GetLoadContext(typeof(ITransform).Assembly));
        Assert.DoesNotContain(context.Assemblies, a => a.GetName().Name == "RetailStreaming.Transforms");
    }

    [Fact]
    public void Workflows_on_one_version_share_one_context_until_the_last_lets_go()
    {
        var loader = Loader();
        var a = loader.Load(SampleId, "1.0.0", SampleType);
        var b = loader.Load("retailstreaming.samples.retail", "1.0", SampleType);

        Assert.NotSame(a.Transform, b.Transform); // one instance per workflow
        Assert.Same(a.Transform.GetType(), b.Transform.GetType());
        Assert.Equal([new LoadedPackage(SampleId, "1.0.0", 2)], loader.LoadedPackages);

        a.Dispose();
        a.Dispose(); // idempotent
        Assert.Equal([new LoadedPackage(SampleId, "1.0.0", 1)], loader.LoadedPackages);
        Assert.Throws<ObjectDisposedException>(() => a.Transform);

        b.Dispose();
        Assert.Empty(loader.LoadedPackages);

        using var c = loader.Load(SampleId, "1.0.0", SampleType);
        Assert.NotSame(AssemblyLoadContext.GetLoadContext(c.Transform.GetType().Assembly), null);
        Assert.Equal([new LoadedPackage(SampleId, "1.0.0", 1)], loader.LoadedPackages);
    }

    [Fact]
    public void A_wrong_type_name_lists_the_transforms_the_package_has()
    {
        var loader = Loader();

        var e = Assert.Throws<TransformLoadException>(() => loader.Load(SampleId, "1.0.0", "RetailStreaming.Samples.Retail.SalesTransform"));

        Assert.Contains("has no type 'RetailStreaming.Samples.Retail.SalesTransform'", e.Message);
        Assert.Contains($"The ITransform types in the package are: {SampleType}.", e.Message);
        Assert.Empty(loader.LoadedPackages); // the failed load let go of the context
    }

    [Fact]
    public void A_missing_version_lists_the_available_ones()
    {
        var e = Assert.Throws<TransformLoadException>(() => Loader().Load(SampleId, "1.1.0", SampleType));
        Assert.Contains("versions there are 1.0.0", e.Message);
    }

    [Theory]
    [InlineData("NotATransform", "does not implement RetailStreaming.Transforms.ITransform")]
    [InlineData("AbstractTransform", "is abstract or generic")]
    [InlineData("NoDefaultConstructorTransform", "has no public parameterless constructor")]
    [InlineData("ConstructorThrowingTransform", "threw InvalidOperationException: Constructor refused to run.")]
    public void A_type_that_cannot_be_a_transform_is_refused_with_the_reason(string type, string reason)
    {
        var loader = Loader();

        var e = Assert.Throws<TransformLoadException>(() => loader.Load(BadId, "1.0.0", $"{BadNamespace}.{type}"));

        Assert.Equal(BadId, e.PackageId);
        Assert.Contains(reason, e.Message);
        Assert.Empty(loader.LoadedPackages);
    }

    [Fact]
    public void The_list_of_types_names_every_concrete_transform()
    {
        var e = Assert.Throws<TransformLoadException>(() => Loader().Load(BadId, "1.0.0", $"{BadNamespace}.NotATransform"));

        foreach (var name in new[] { "EchoTransform", "ThrowingTransform", "SleepingTransform", "LazyThrowingTransform", "NoDefaultConstructorTransform" })
            Assert.Contains($"{BadNamespace}.{name}", e.Message);
        Assert.DoesNotContain($"{BadNamespace}.AbstractTransform", e.Message);
    }

    [Fact]
    public void An_assembly_qualified_type_name_is_accepted()
    {
        using var loaded = Loader().Load(SampleId, "1.0.0", $"{SampleType}, RetailStreaming.Samples.Retail");
        Assert.Equal(SampleType, loaded.TypeName);
    }

    [Fact]
    public void A_package_shipping_its_own_SDK_copy_still_runs_against_the_hosts()
    {
        var feed = _temp.Sub("feed");
        WriteNupkg(feed, "Acme.Bundled", "1.0.0",
        [
            ("lib/net8.0/RetailStreaming.Samples.Retail.dll", ReadEntry(SampleId, "lib/net8.0/RetailStreaming.Samples.Retail.dll")),
            ("lib/net8.0/RetailStreaming.Transforms.dll", File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "RetailStreaming.Transforms.dll"))),
        ]);
        var loader = new TransformLoader(new TransformPackageStore(feed, _temp.Sub("cache")));

        using var loaded = loader.Load("Acme.Bundled", "1.0.0", SampleType);

        Assert.IsAssignableFrom<ITransform>(loaded.Transform);
        var context = AssemblyLoadContext.GetLoadContext(loaded.Transform.GetType().Assembly)!;
        Assert.DoesNotContain(context.Assemblies, a => a.GetName().Name == "RetailStreaming.Transforms");
    }

    [Fact]
    public void A_package_built_against_a_newer_SDK_major_is_refused()
    {
        var feed = _temp.Sub("feed");
        var major = TransformLoader.SdkVersion.Major + 1;
        WriteNupkg(feed, "Acme.Future", "1.0.0",
            [("lib/net8.0/RetailStreaming.Samples.Retail.dll", ReadEntry(SampleId, "lib/net8.0/RetailStreaming.Samples.Retail.dll"))],
            dependencies: $"""<group targetFramework="net8.0"><dependency id="RetailStreaming.Transforms" version="[{major}.0.0, )" /></group>""");
        var loader = new TransformLoader(new TransformPackageStore(feed, _temp.Sub("cache")));

        var e = Assert.Throws<TransformLoadException>(() => loader.Load("Acme.Future", "1.0.0", SampleType));

        Assert.Contains($"depends on RetailStreaming.Transforms [{major}.0.0, )", e.Message);
        Assert.Contains("newer major version than the host's SDK", e.Message);
        Assert.Empty(loader.LoadedPackages);
    }

    [Fact]
    public void A_package_whose_assembly_references_a_newer_SDK_major_is_refused()
    {
        var feed = _temp.Sub("feed");
        var major = (ushort)(TransformLoader.SdkVersion.Major + 1);
        var sample = ReadEntry(SampleId, "lib/net8.0/RetailStreaming.Samples.Retail.dll");
        WriteNupkg(feed, "Acme.Future", "1.0.0", [("lib/net8.0/RetailStreaming.Samples.Retail.dll", WithSdkReference(sample, major, 0))]);
        var loader = new TransformLoader(new TransformPackageStore(feed, _temp.Sub("cache")));

        var e = Assert.Throws<TransformLoadException>(() => loader.Load("Acme.Future", "1.0.0", SampleType));

        Assert.Contains($"RetailStreaming.Samples.Retail.dll was built against RetailStreaming.Transforms {major}.0", e.Message);
        Assert.Contains($"The host runs transforms built against SDK {TransformLoader.SdkVersion.Major}.x or older", e.Message);
    }

    [Fact]
    public void A_package_built_against_a_newer_minor_of_the_same_major_runs_on_the_hosts_SDK()
    {
        var feed = _temp.Sub("feed");
        var sdk = TransformLoader.SdkVersion;
        var sample = ReadEntry(SampleId, "lib/net8.0/RetailStreaming.Samples.Retail.dll");
        WriteNupkg(feed, "Acme.Minor", "1.0.0",
            [("lib/net8.0/RetailStreaming.Samples.Retail.dll", WithSdkReference(sample, (ushort)sdk.Major, (ushort)(sdk.Minor + 5)))]);
        var loader = new TransformLoader(new TransformPackageStore(feed, _temp.Sub("cache")));

        using var loaded = loader.Load("Acme.Minor", "1.0.0", SampleType);
        using var runner = new TransformRunner(loader.Load("Acme.Minor", "1.0.0", SampleType), Contexts.For(), TimeSpan.FromSeconds(5));
        runner.Initialize();

        Assert.Equal(new Version(sdk.Major, sdk.Minor + 5, 0, 0), loaded.SdkVersion);
        Assert.IsType<TransformResult.Ok>(runner.Run(Changes.Insert("stores", ("store_id", "S1"), ("name", "Main"), ("city", "Lyon"))));
    }

    [Fact]
    public void A_package_built_against_SDK_0_x_runs_on_the_1_x_host()
    {
        // Packages published before SDK 1.0 (the 0.1.0 SDK) keep running after the upgrade.
        Assert.Equal(1, TransformLoader.SdkVersion.Major);
        var feed = _temp.Sub("feed");
        var sample = ReadEntry(SampleId, "lib/net8.0/RetailStreaming.Samples.Retail.dll");
        WriteNupkg(feed, "Acme.Early", "1.0.0",
            [("lib/net8.0/RetailStreaming.Samples.Retail.dll", WithSdkReference(sample, 0, 1))],
            dependencies: """<group targetFramework="net8.0"><dependency id="RetailStreaming.Transforms" version="[0.1.0, )" /></group>""");
        var loader = new TransformLoader(new TransformPackageStore(feed, _temp.Sub("cache")));

        using var loaded = loader.Load("Acme.Early", "1.0.0", SampleType);
        using var runner = new TransformRunner(loader.Load("Acme.Early", "1.0.0", SampleType), Contexts.For(), TimeSpan.FromSeconds(5));
        runner.Initialize();

        Assert.Equal(new Version(0, 1, 0, 0), loaded.SdkVersion);
        Assert.Same(typeof(ITransform).Assembly, loaded.Transform.GetType().GetInterface(nameof(ITransform))!.Assembly);
        Assert.IsType<TransformResult.Ok>(runner.Run(Changes.Insert("stores", ("store_id", "S1"), ("name", "Main"), ("city", "Lyon"))));
    }

    [Fact]
    public void Concurrent_loads_of_one_version_share_one_context()
    {
        var loader = Loader();
        var loaded = new LoadedTransform[8];

        Parallel.For(0, loaded.Length, new ParallelOptions { MaxDegreeOfParallelism = loaded.Length },
            i => loaded[i] = loader.Load(SampleId, "1.0.0", SampleType));

        Assert.Equal([new LoadedPackage(SampleId, "1.0.0", loaded.Length)], loader.LoadedPackages);
        Assert.Single(loaded.Select(l => AssemblyLoadContext.GetLoadContext(l.Transform.GetType().Assembly)).Distinct());
        foreach (var l in loaded) l.Dispose();
        Assert.Empty(loader.LoadedPackages);
    }

    [Fact]
    public void A_package_whose_assembly_is_not_an_assembly_is_refused()
    {
        var feed = _temp.Sub("feed");
        WriteNupkg(feed, "Acme.Garbage", "1.0.0", [("lib/net8.0/Acme.Garbage.dll", "MZ not a PE file"u8.ToArray())]);

        var e = Assert.Throws<TransformLoadException>(() =>
            new TransformLoader(new TransformPackageStore(feed, _temp.Sub("cache"))).Load("Acme.Garbage", "1.0.0", "Acme.Garbage.Transform"));

        Assert.Contains("Acme.Garbage.dll is not a valid assembly", e.Message);
    }

    [Fact]
    public void The_context_is_collected_once_every_user_has_let_go()
    {
        var loader = Loader();

        var context = LoadRunAndRelease(loader, BadId, $"{BadNamespace}.EchoTransform");

        Assert.True(WaitForCollection(context), "the package's load context was not collected");
        Assert.Empty(loader.LoadedPackages);
    }

    [Fact]
    public void The_sample_context_is_collected_once_every_user_has_let_go()
    {
        var loader = Loader();

        var context = LoadRunAndRelease(loader, SampleId, SampleType);

        Assert.True(WaitForCollection(context), "the sample's load context was not collected");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference LoadRunAndRelease(TransformLoader loader, string packageId, string typeName)
    {
        var first = loader.Load(packageId, "1.0.0", typeName);
        var second = loader.Load(packageId, "1.0.0", typeName);
        var context = new WeakReference(AssemblyLoadContext.GetLoadContext(first.Transform.GetType().Assembly));

        using (var runner = new TransformRunner(first, Contexts.For("wf-a"), TimeSpan.FromSeconds(5)))
        {
            runner.Initialize();
            var result = runner.Run(Changes.Insert("stores", ("store_id", "S1"), ("name", "Main"), ("city", "Lyon")));
            Assert.IsType<TransformResult.Ok>(result);
        }
        Assert.True(first.IsDisposed); // the runner owned it
        Assert.Equal(1, loader.LoadedPackages.Single().Users);
        second.Dispose();
        return context;
    }

    private static bool WaitForCollection(WeakReference reference)
    {
        for (var i = 0; i < 100 && reference.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            if (reference.IsAlive) Thread.Sleep(50);
        }
        return !reference.IsAlive;
    }
}
