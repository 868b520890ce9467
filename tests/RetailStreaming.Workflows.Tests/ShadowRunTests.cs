using Akka.Actor;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// A shadow run: the candidate version runs on the live changes; its differences and failures are
/// reported, and nothing it makes is delivered or dead-lettered.
/// </summary>
public sealed class ShadowRunTests(ITestOutputHelper output) : WorkflowTestKit(output)
{
    private async Task<T> AskAsync<T>(IActorRef node, object command) =>
        Assert.IsType<T>(await node.Ask<object>(command, Dilated(TimeSpan.FromSeconds(20))));

    [Fact]
    public async Task Differences_and_failures_are_reported_and_nothing_of_the_candidate_is_delivered()
    {
        const string id = "orders-shadow";
        var log = Connectors.Source(id);
        var endpoint = Connectors.Endpoint(id);
        Connectors.FixedVersions["1.0.0"] = true; // the live version prices every ticket; the candidate 2.0.0 throws on marked ones
        var node = StartNode();
        await ApplyAsync(node, id, Yaml(id, batchSize: 10, maxRecords: 5));

        var started = await AskAsync<ShadowReport>(node, new ShadowCommands.Start(id, "2.0.0"));
        Assert.Equal(("running", "2.0.0", 0L), (started.State, started.CandidateVersion, started.Equal + started.Different + started.Failed));
        for (var round = 1; round <= 3; round++)
        {
            log.Append(10, poison: n => n is 5 or 15);
            await AwaitStatusAsync(node, id, s => s.DeliveredChanges == round * 10, $"{round * 10} delivered");
        }
        ShadowReport report = null!;
        await AwaitAssertAsync(async () =>
        {
            report = await AskAsync<ShadowReport>(node, new ShadowCommands.GetReport(id));
            Assert.Equal(30, report.Equal + report.Different + report.Failed + report.Skipped);
        });

        Assert.Equal((0L, 28L, 2L, 0L), (report.Equal, report.Different, report.Failed, report.Skipped));
        Assert.Equal("1.0.0", report.LiveVersion);
        var first = report.Differences[0];
        Assert.Equal((MemoryChangeLog.PositionOf(1).Value, "tickets", "{\"id\":1}", "different"), (first.Position, first.Table, first.Key, first.Kind));
        Assert.Equal("payload.version: live \"1.0.0\", candidate \"2.0.0\"", first.Diff);
        var failed = report.Differences.Single(d => d.Position == MemoryChangeLog.PositionOf(5).Value);
        Assert.Equal("failed", failed.Kind);
        Assert.Contains("cannot be priced", failed.Diff);
        Assert.Equal(ShadowReport.MaxDifferences, report.Differences.Count);
        Assert.Equal(report.Differences.OrderBy(d => d.Position, StringComparer.Ordinal).Select(d => d.Position), report.Differences.Select(d => d.Position));

        // Only the live version's records reached the endpoint, each once; the candidate's failures are not dead letters.
        Assert.Equal(30, endpoint.AcceptedCount);
        Assert.All(endpoint.Accepted, r => Assert.Equal("1.0.0", r.Record.Payload["version"]!.GetValue<string>()));
        Assert.Equal(0, await Store.DeadLetters.CountAsync(id));
        Assert.Equal(0, (await StatusAsync(node, id)).DeadLetters);

        var stopped = await AskAsync<ShadowReport>(node, new ShadowCommands.Stop(id));
        Assert.Equal(("stopped", 30L), (stopped.State, stopped.Equal + stopped.Different + stopped.Failed + stopped.Skipped));
        log.Append(10);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 40, "40 delivered");
        var after = await AskAsync<ShadowReport>(node, new ShadowCommands.GetReport(id));
        Assert.Equal(("stopped", 28L), (after.State, after.Different));
    }

    [Fact]
    public async Task The_same_version_in_the_shadow_is_equal_on_every_change_and_a_second_start_is_refused()
    {
        const string id = "orders-shadow-same";
        var log = Connectors.Source(id);
        var node = StartNode();
        Assert.Equal("none", (await AskAsync<ShadowReport>(node, new ShadowCommands.GetReport(id))).State);
        await ApplyAsync(node, id, Yaml(id, batchSize: 10, maxRecords: 5));
        await AskAsync<ShadowReport>(node, new ShadowCommands.Start(id, "1.0.0"));
        var refused = await AskAsync<WorkflowReplies.LifecycleRefused>(node, new ShadowCommands.Start(id, "1.1.0"));
        Assert.Contains("stop it first", refused.Reason);

        log.Append(10);
        await AwaitStatusAsync(node, id, s => s.DeliveredChanges == 10, "10 delivered");
        await AwaitAssertAsync(async () =>
        {
            var report = await AskAsync<ShadowReport>(node, new ShadowCommands.GetReport(id));
            Assert.Equal((10L, 0L, 0L), (report.Equal, report.Different, report.Failed));
            Assert.Empty(report.Differences);
        });
    }
}
