using System.Text.Json;
using RetailStreaming.Cli.Tests.Support;

namespace RetailStreaming.Cli.Tests;

/// <summary><c>rsctl workflow pause</c> stops delivery; <c>resume</c> goes on from the checkpoint without loss or duplicates.</summary>
[Collection(CliNodeCollection.Name)]
public sealed class PauseResumeTests(CliNode node)
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Pause_stops_delivery_and_resume_continues_without_loss()
    {
        const string id = "pause-orders";
        var file = node.WriteDefinition(id, "pause-client", rows: 20);
        Assert.Equal(0, (await node.OperatorAsync("workflow", "apply", "-f", file)).ExitCode);
        await TestNode.EventuallyAsync(() => Task.FromResult(node.Endpoint.ReceivedBy(id).Count), n => n == 20, Within, "the 20 seed products delivered");

        // Changes keep arriving while the pause drains.
        RetailSource.Insert(node.DatabaseOf(id), 21, 40);
        var pause = await node.OperatorAsync("workflow", "pause", id);
        Assert.True(pause.ExitCode == 0, pause.ToString());
        var atPause = node.Endpoint.ReceivedBy(id).Count;

        // Nothing is delivered after the pause was answered, whatever the source holds.
        RetailSource.Insert(node.DatabaseOf(id), 41, 60);
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(atPause, node.Endpoint.ReceivedBy(id).Count);
        var paused = await ShowAsync(id);
        Assert.Equal("paused", paused.GetProperty("status").GetProperty("state").GetString());
        Assert.Contains("paused", (await node.OperatorAsync("workflow", "show", id)).Out);

        var resume = await node.OperatorAsync("workflow", "resume", id);
        Assert.True(resume.ExitCode == 0, resume.ToString());

        var received = await TestNode.EventuallyAsync(() => Task.FromResult(node.Endpoint.ReceivedBy(id)),
            r => r.Select(x => x.Key).Distinct().Count() == 60, Within, "all 60 products delivered after the resume");
        // Without loss, and (the pause persisted its checkpoint) without a record delivered twice.
        Assert.Equal(Enumerable.Range(1, 60).Select(i => $"sku-{i}").Order(), received.Select(r => r.Key).Order());
        Assert.Equal(received.Count, received.Select(r => r.Id).Distinct().Count());
        Assert.All(received, r => Assert.True(r.SignatureValid));
        var running = await ShowAsync(id);
        Assert.Equal("running", running.GetProperty("status").GetProperty("state").GetString());
    }

    private async Task<JsonElement> ShowAsync(string id)
    {
        var run = await node.OperatorAsync("workflow", "show", id, "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        return JsonDocument.Parse(run.Out).RootElement.Clone();
    }
}
