using System.IO.Compression;
using System.Text.Json;
using RetailStreaming.Cli.Tests.Support;
using RetailStreaming.Node;
using RetailStreaming.TransformHost;

namespace RetailStreaming.Cli.Tests;

/// <summary>The "staging" node of the promotion tests: the sample package, as every test node.</summary>
public sealed class StagingNode : CliNode;

/// <summary>The "production" node: a package folder of its own, which the test fills.</summary>
public sealed class ProductionNode : CliNode
{
    public string PackageDirectory => Path.Combine(Root, "production-packages");

    protected override void Configure(NodeOptions options)
    {
        Directory.CreateDirectory(PackageDirectory);
        options.Transforms.PackageDirectory = PackageDirectory;
    }
}

/// <summary>
/// rsctl workflow promote between two real nodes named as contexts: it applies on the target exactly
/// the definition that runs on the source, after showing the diff; it refuses (exit 3) when the
/// target lacks the transform package version or holds it with other content; --dry-run applies nothing.
/// </summary>
public sealed class PromoteTests(StagingNode staging, ProductionNode production) : IClassFixture<StagingNode>, IClassFixture<ProductionNode>
{
    private const string Id = "promo-orders";
    private readonly Golden _golden = new();
    private string ConfigPath => Path.Combine(staging.Root, "promote-contexts.json");

    [Fact]
    public async Task Promote_applies_exactly_what_runs_on_the_source_and_refuses_a_package_the_target_does_not_hold_the_same()
    {
        _golden.Know(staging.Root, "<staging-root>").Know(production.Root, "<production-root>");
        Assert.Equal(0, (await Rsctl("context", "add", "staging", "--node", staging.AdminUrl.ToString(), "--token", staging.OperatorToken)).ExitCode);
        Assert.Equal(0, (await Rsctl("context", "add", "production", "--node", production.AdminUrl.ToString(), "--token", production.OperatorToken)).ExitCode);
        var file = staging.WriteDefinition(Id, "promo");
        Assert.Equal(0, (await staging.OperatorAsync("workflow", "apply", "-f", file)).ExitCode);
        var definition = JsonDocument.Parse((await staging.OperatorAsync("workflow", "show", Id, "--json")).Out).RootElement;
        Assert.Equal(Id, definition.GetProperty("workflowId").GetString());
        using (var http = TestNode.Client(staging.AdminUrl, staging.OperatorToken))
        {
            var source = JsonDocument.Parse(await http.GetStringAsync($"/api/workflows/{Id}/definition")).RootElement;
            var hash = source.GetProperty("contentHash").GetString()!;
            _golden.Know(hash, "<hash>").Know(hash[..16], "<hash>");
        }

        // The target has no such package: refused, nothing applied.
        await ExpectError("workflow-promote-missing-package", 3, "workflow", "promote", Id, "--from", "staging", "--to", "production");

        // The same version with other content: refused too.
        var sample = Path.Combine(TestNode.TransformPackageDirectory(), TestNode.SamplePackage);
        var target = Path.Combine(production.PackageDirectory, TestNode.SamplePackage);
        File.Copy(sample, target);
        using (var zip = ZipFile.Open(target, ZipArchiveMode.Update))
        using (var writer = new StreamWriter(zip.CreateEntry("lib/net10.0/tampered.txt").Open()))
            writer.Write("not what staging runs");
        var other = new TransformPackageStore(production.PackageDirectory, Path.Combine(production.Root, "hash-cache")).ContentHash("RetailStreaming.Samples.Retail", "1.0.0")!;
        _golden.Know(other, "<other-hash>");
        await ExpectError("workflow-promote-different-package", 3, "workflow", "promote", Id, "--from", "staging", "--to", "production");
        Assert.Equal(3, (await production.OperatorAsync("workflow", "show", Id)).ExitCode);

        // The same package: the dry run shows the whole definition as new and applies nothing; then it is applied.
        File.Copy(sample, target, overwrite: true);
        await Expect("workflow-promote-dry-run", 0, "workflow", "promote", Id, "--from", "staging", "--to", "production", "--dry-run");
        Assert.Equal(3, (await production.OperatorAsync("workflow", "show", Id)).ExitCode);
        await Expect("workflow-promote", 0, "workflow", "promote", Id, "--from", "staging", "--to", "production");
        Assert.Equal(await CurrentYamlAsync(staging), await CurrentYamlAsync(production));
        await Expect("workflow-promote-unchanged", 0, "workflow", "promote", Id, "--from", "staging", "--to", "production");

        // A new version on staging: the diff is exactly what changed.
        var v2 = staging.WriteDefinitionVariant(Id, "promo", "v2", maxWait: "80ms");
        Assert.Equal(0, (await staging.OperatorAsync("workflow", "apply", "-f", v2)).ExitCode);
        await Expect("workflow-promote-diff", 0, "workflow", "promote", Id, "--from", "staging", "--to", "production", "--dry-run");
        var json = await Rsctl("workflow", "promote", Id, "--from", "staging", "--to", "production", "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        var answer = JsonDocument.Parse(json.Out).RootElement;
        foreach (var property in new[] { "workflowId", "from", "to", "dryRun", "source", "plan", "result" })
            Assert.True(answer.TryGetProperty(property, out _), $"no '{property}' in {answer}");
        Assert.Equal(2, answer.GetProperty("result").GetProperty("version").GetInt32());
        Assert.Equal(await CurrentYamlAsync(staging), await CurrentYamlAsync(production));

        await ExpectError("workflow-promote-unknown-context", 2, "workflow", "promote", Id, "--from", "staging", "--to", "qa");
        _golden.AssertAll();
    }

    private static async Task<string> CurrentYamlAsync(CliNode node)
    {
        var history = await node.OperatorAsync("workflow", "history", Id, "--json");
        Assert.True(history.ExitCode == 0, history.ToString());
        return JsonDocument.Parse(history.Out).RootElement.GetProperty("versions").EnumerateArray().Last().GetProperty("yaml").GetString()!;
    }

    private Task<CliRun> Rsctl(params string[] args) => CliNode.RunRsctlAsync(args, ConfigPath, staging.Root);

    private async Task Expect(string golden, int exitCode, params string[] args)
    {
        var run = await Rsctl(args);
        Assert.True(exitCode == run.ExitCode, $"rsctl {string.Join(' ', args)}: {run}");
        _golden.Check(golden, run.Out);
    }

    private async Task ExpectError(string golden, int exitCode, params string[] args)
    {
        var run = await Rsctl(args);
        Assert.True(exitCode == run.ExitCode, $"rsctl {string.Join(' ', args)}: {run}");
        _golden.Check(golden, run.Error);
    }
}
