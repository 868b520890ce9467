using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using RetailStreaming.Cli.Tests.Support;

namespace RetailStreaming.Cli.Tests;

/// <summary>A node of its own, so that the published versions listed are exactly this test's.</summary>
public sealed class TransformNode : CliNode;

/// <summary>
/// <c>rsctl transform publish | list</c> against a real node, and a workflow running a version that
/// only the cluster's package store holds (not the node's package folder).
/// </summary>
public sealed class TransformPublishTests(TransformNode node) : IClassFixture<TransformNode>
{
    private const string Sample = "RetailStreaming.Samples.Retail";
    private readonly Golden _golden = new();

    [Fact]
    public async Task Publish_is_checked_and_immutable_and_every_node_loads_a_published_version()
    {
        _golden.Know(node.Root, "<root>").Know(node.OperatorTokenId, "<operator-token>");
        Assert.False(File.Exists(Path.Combine(TestNode.TransformPackageDirectory(), $"{Sample}.1.0.1.nupkg")));
        var v101 = Variant("1.0.1", null);
        var v101Other = Variant("1.0.1", "rebuilt with other content", "other");
        _golden.Know(Sha(v101)[..12], "<sha>").Know(Sha(v101), "<sha256>").Know(Sha(v101Other), "<other-sha256>")
            .Know((new FileInfo(v101).Length / 1024.0).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + " KB", "<size>");

        var published = await node.OperatorAsync("transform", "publish", v101);
        Assert.True(published.ExitCode == 0, published.ToString());
        _golden.Check("transform-publish", published.Out);
        var again = await node.OperatorAsync("transform", "publish", v101);
        Assert.True(again.ExitCode == 0, again.ToString());
        _golden.Check("transform-publish-again", again.Out);
        var conflict = await node.OperatorAsync("transform", "publish", v101Other);
        Assert.True(conflict.ExitCode == 1, conflict.ToString());
        _golden.Check("transform-publish-conflict", conflict.Error);

        // A package with no transform class is refused, and so is a damaged upload.
        var noTransform = WriteNupkg(Path.Combine(node.Root, "Acme.Empty.1.0.0.nupkg"), "Acme.Empty", "1.0.0",
            ("lib/net8.0/RetailStreaming.Transforms.Testing.dll", File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "RetailStreaming.Transforms.Testing.dll"))));
        var refused = await node.OperatorAsync("transform", "publish", noTransform);
        Assert.True(refused.ExitCode == 1, refused.ToString());
        _golden.Check("transform-publish-no-transform", refused.Error);
        using (var http = TestNode.Client(node.AdminUrl, node.OperatorToken))
        {
            var damaged = await http.PostAsync($"/api/transforms?sha256={new string('0', 64)}", new ByteArrayContent(File.ReadAllBytes(v101)));
            Assert.Equal(400, (int)damaged.StatusCode);
            Assert.Contains("damaged on the way", await damaged.Content.ReadAsStringAsync());
        }

        await Expect("transform-list", "transform", "list");
        var list = await node.OperatorAsync("transform", "list", "--json");
        var listed = Assert.Single(JsonDocument.Parse(list.Out).RootElement.EnumerateArray());
        Assert.Equal((Sample, "1.0.1", Sha(v101)), (listed.GetProperty("packageId").GetString(), listed.GetProperty("version").GetString(), listed.GetProperty("sha256").GetString()));
        Assert.Equal(node.OperatorTokenId, listed.GetProperty("publishedBy").GetString());

        // A workflow naming 1.0.1: the node's package folder has only 1.0.0, the store has 1.0.1.
        const string id = "published-orders";
        var file = node.WriteDefinition(id, "published");
        var path = Path.Combine(node.Root, file);
        await File.WriteAllTextAsync(path, (await File.ReadAllTextAsync(path)).Replace("version: 1.0.0", "version: 1.0.1"));
        var apply = await node.OperatorAsync("workflow", "apply", "-f", file);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        await TestNode.EventuallyAsync(() => Task.FromResult(node.Endpoint.ReceivedBy(id).Count), n => n == 2, TimeSpan.FromSeconds(30),
            "the 2 seed products delivered through the published 1.0.1");
        var show = JsonDocument.Parse((await node.OperatorAsync("workflow", "show", id, "--json")).Out).RootElement;
        Assert.Equal("1.0.1", show.GetProperty("status").GetProperty("transformVersion").GetString());

        _golden.AssertAll();
    }

    private async Task Expect(string golden, params string[] args)
    {
        var run = await node.OperatorAsync(args);
        Assert.True(run.ExitCode == 0, $"rsctl {string.Join(' ', args)}: {run}");
        _golden.Check(golden, run.Out);
    }

    private static string Sha(string file) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));

    /// <summary>A copy of the sample package under another version (and, when given, another description and an extra file).</summary>
    private string Variant(string version, string? description, string suffix = "")
    {
        var target = Path.Combine(node.Root, suffix, $"{Sample}.{version}.nupkg");
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        File.Copy(Path.Combine(TestNode.TransformPackageDirectory(), TestNode.SamplePackage), target);
        using var zip = ZipFile.Open(target, ZipArchiveMode.Update);
        var nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        string text;
        using (var reader = new StreamReader(nuspec.Open())) text = reader.ReadToEnd();
        nuspec.Delete();
        text = text.Replace("<version>1.0.0</version>", $"<version>{version}</version>");
        if (description is not null) text = System.Text.RegularExpressions.Regex.Replace(text, "<description>.*?</description>", $"<description>{description}</description>");
        using (var writer = new StreamWriter(zip.CreateEntry(nuspec.FullName).Open(), new UTF8Encoding(false))) writer.Write(text);
        return target;
    }

    private static string WriteNupkg(string path, string id, string version, params (string Name, byte[] Content)[] files)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        using (var writer = new StreamWriter(zip.CreateEntry($"{id}.nuspec").Open()))
            writer.Write($"""<?xml version="1.0" encoding="utf-8"?><package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd"><metadata><id>{id}</id><version>{version}</version><authors>t</authors><description>t</description></metadata></package>""");
        foreach (var (name, content) in files)
            using (var stream = zip.CreateEntry(name).Open()) stream.Write(content);
        return path;
    }
}

/// <summary><c>rsctl transform test</c>: no node, the sample project and its fixtures.</summary>
public sealed class TransformTestCommandTests : IAsyncLifetime
{
    private readonly string _root = TestNode.NewTempDirectory("transform-test");

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync() => TestNode.DeleteDirectoryAsync(_root);

    private Task<CliRun> Rsctl(params string[] args) => CliNode.RunRsctlAsync(args, Path.Combine(_root, "config.json"), _root);

    [Fact]
    public async Task The_sample_project_passes_its_fixtures_and_a_changed_expectation_prints_the_diff()
    {
        var golden = new Golden().Know(_root, "<root>");
        var sample = Path.Combine(TestNode.RepositoryRoot(), "samples", Sample);
        var fixtures = Path.Combine(_root, "fixtures");
        Directory.CreateDirectory(fixtures);
        foreach (var file in Directory.GetFiles(Path.Combine(sample, "fixtures")))
            File.Copy(file, Path.Combine(fixtures, Path.GetFileName(file)));

        // The project: packed (built), loaded as a node loads it, checked.
        var passed = await Rsctl("transform", "test", Path.Combine(sample, $"{Sample}.csproj"), "--fixtures", "fixtures");
        Assert.True(passed.ExitCode == 0, passed.ToString());
        Assert.Contains("1 fixture(s) passed in fixtures: 5 change(s), 4 record(s), 1 refused as expected.", passed.Out);

        // The package itself, against an expectation that no longer holds.
        var expected = Path.Combine(fixtures, "retail.expected.ndjson");
        await File.WriteAllTextAsync(expected, (await File.ReadAllTextAsync(expected)).Replace("\"vat\":2.99", "\"vat\":3.00").Replace("\"S-01/SKU-8\"", "\"S-01/SKU-9\""));
        var nupkg = Path.Combine(TestNode.TransformPackageDirectory(), TestNode.SamplePackage);
        var failed = await Rsctl("transform", "test", nupkg, "--fixtures", "fixtures");
        Assert.True(failed.ExitCode == 1, failed.ToString());
        golden.Check("transform-test-diff", failed.Out);

        var json = await Rsctl("transform", "test", nupkg, "--fixtures", "fixtures", "--json");
        Assert.Equal(1, json.ExitCode);
        var differences = JsonDocument.Parse(json.Out).RootElement.GetProperty("fixtures")[0].GetProperty("differences");
        Assert.Equal(["payload.vat", "key"], differences.EnumerateArray().Select(d => d.GetProperty("field").GetString()));

        // --update writes the expected file back; the next run passes.
        Assert.Equal(0, (await Rsctl("transform", "test", nupkg, "--fixtures", "fixtures", "--update")).ExitCode);
        Assert.Equal(0, (await Rsctl("transform", "test", nupkg, "--fixtures", "fixtures")).ExitCode);
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(sample, "fixtures", "retail.expected.ndjson")), await File.ReadAllTextAsync(expected));

        var usage = await Rsctl("transform", "test", nupkg);
        Assert.Equal(2, usage.ExitCode);
        golden.Check("transform-test-usage", usage.Error);
        golden.AssertAll();
    }

    private const string Sample = "RetailStreaming.Samples.Retail";
}
