using System.Diagnostics;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;
using Xunit.Abstractions;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// A node capturing PostgreSQL killed with SIGKILL while the client keeps writing, and started
/// again: the reconciliation still holds, and redeliveries are exact repeats (same id, same key).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresCrashRecoveryTests(PostgresServerFixture pg, ITestOutputHelper output)
{
    private const string WorkflowId = "it-pg-crash";
    private const string SecretVariable = "RS_IT_PG_CRASH_SECRET";
    private const int Kills = 2;

    [Fact]
    public async Task After_SIGKILLs_during_streaming_the_endpoint_state_equals_the_source_and_duplicates_carry_the_same_keys()
    {
        var clock = Stopwatch.StartNew();
        var secret = StandardWebhooks.GenerateSecret();
        var db = await PostgresRetailDatabase.CreateAsync(await pg.Server.CreateDatabaseAsync("client"));
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        await using var node = await NodeProcess.StartAsync(new Dictionary<string, string> { [SecretVariable] = secret }, name: "pg-crash-node");
        await PostgresChecks.ApplyAndWaitForStreamingAsync(node, db, WorkflowId, receiver, SecretVariable);

        // Paced writers (about 1,500 changes/s together) that keep writing while the node is down.
        using var stopWriting = new CancellationTokenSource();
        var writers = new[] { new PostgresRetailWriter(db, 1, seed: 303, changesPerSecond: 750), new PostgresRetailWriter(db, 2, seed: 404, changesPerSecond: 750) };
        var writing = Task.WhenAll(writers.Select(w => w.RunAsync(long.MaxValue, stopWriting.Token)));
        long Written() => writers.Sum(w => w.Written);
        try
        {
            for (var kill = 1; kill <= Kills; kill++)
            {
                var before = receiver.DistinctPositions;
                var startedFrom = JsonText.Of(await node.WorkflowStatusAsync(WorkflowId), "checkpoint");
                string checkpoint = "";
                await Eventually.UntilAsync($"the stream makes progress and checkpoints before kill {kill}", TimeSpan.FromSeconds(60), async () =>
                {
                    checkpoint = JsonText.Of(await node.WorkflowStatusAsync(WorkflowId), "checkpoint");
                    return receiver.DistinctPositions >= before + 1000 && checkpoint.StartsWith("pg:", StringComparison.Ordinal)
                        && string.CompareOrdinal(checkpoint, startedFrom) > 0 && !writing.IsCompleted;
                }, () => $"received {receiver.DistinctPositions}, checkpoint {checkpoint}, written {Written()}, writers {writing.Status}\n{node.OutputTail()}");

                node.Kill();
                output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] SIGKILL {kill}: written {Written()}, received {receiver.Count} records, checkpoint at least {checkpoint}");
                await Task.Delay(750); // the client keeps writing while the node is down
                await node.StartAsync();
                output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] restarted");
            }

            var afterLastStart = receiver.DistinctPositions;
            await Eventually.UntilAsync("new changes arrive after the last restart", TimeSpan.FromSeconds(60),
                () => receiver.DistinctPositions >= afterLastStart + 1000,
                () => $"received {receiver.DistinctPositions}, written {Written()}\n{node.OutputTail()}");
        }
        finally
        {
            await stopWriting.CancelAsync();
            await Task.WhenAny(writing);
        }
        await writing;

        var written = Written();
        await PostgresChecks.WaitForAllAsync(node, receiver, WorkflowId, written, TimeSpan.FromSeconds(120));
        output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] all {written} arrived");
        await PostgresChecks.AssertReconciledAsync(receiver, db, WorkflowId, written, crashed: true, output);
    }
}
