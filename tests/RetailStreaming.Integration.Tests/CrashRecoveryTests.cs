using System.Diagnostics;
using System.Net;
using System.Text.Json;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;
using Xunit.Abstractions;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// A node killed with SIGKILL while a client application keeps writing, restarted on the same
/// data directory: invariants 1 to 3 of DESIGN.md (nothing lost, duplicates harmless, order).
/// </summary>
public sealed class CrashRecoveryTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string WorkflowId = "it-crash-recovery";
    private const string SecretVariable = "RS_IT_CRASH_WEBHOOK_SECRET";
    private const int Kills = 2;
    private readonly string _work = Directory.CreateTempSubdirectory("rs-it-crash-").FullName;

    [Fact]
    public async Task After_SIGKILLs_mid_stream_nothing_is_lost_duplicates_carry_the_first_key_and_no_key_goes_backwards()
    {
        var clock = Stopwatch.StartNew();
        var secret = StandardWebhooks.GenerateSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        await using var node = await NodeProcess.StartAsync(new Dictionary<string, string> { [SecretVariable] = secret }, name: "crash-node");
        using var db = RetailClientDatabase.Create(Path.Combine(_work, "crash.db"));
        var snapshot = db.Write(w =>
        {
            for (var p = 1; p <= 50; p++) w.InsertProduct(RetailWriter.Sku(p), $"Product {p}", p, "grocery");
            for (var t = 1; t <= 100; t++) w.InsertTicket(TicketId(t), "S001", RetailWriter.Sku(1 + t % 50), 1, 2.0);
        });

        var (status, body) = await node.ApplyWorkflowAsync(WorkflowFile.Retail(WorkflowId, db, receiver.Url, SecretVariable), "crash.yaml");
        Assert.True(status == HttpStatusCode.OK, $"POST /api/workflows answered {(int)status}: {body}\n{node.OutputTail()}");
        await Eventually.UntilAsync("the capture is installed in the client database", TimeSpan.FromSeconds(30),
            () => db.CaptureInstalled(WorkflowId), () => node.OutputTail());

        using var stopWriting = new CancellationTokenSource();
        var writer = new RetailWriter(db, ticketPrefix: "T-CRASH-", firstTicket: 101, hotTickets: 20, products: 50);
        var writing = writer.RunAsync(stopWriting.Token);
        // Per kill: how many records had arrived when the node died, and the checkpoint it had persisted by then.
        var kills = new List<(int ArrivedBefore, string Checkpoint)>();
        try
        {
            for (var kill = 1; kill <= Kills; kill++)
            {
                // Killed while the stream flows: new changes arrive, and a checkpoint past the one it
                // started from is persisted (so the restart has a checkpoint to resume from), while
                // the writer keeps adding changes beyond it.
                var startedFrom = await CheckpointAsync(node);
                var distinctBefore = receiver.DistinctPositions;
                string? checkpoint = null;
                await Eventually.UntilAsync($"the stream makes progress before kill {kill}", TimeSpan.FromSeconds(60), async () =>
                {
                    checkpoint = await CheckpointAsync(node);
                    return receiver.DistinctPositions >= distinctBefore + 300
                        && string.CompareOrdinal(checkpoint, startedFrom) > 0
                        && !writing.IsCompleted;
                }, () => $"received {receiver.DistinctPositions} distinct positions, checkpoint {checkpoint}, written {writer.Written}, writer {writing.Status}\n{node.OutputTail()}");

                var lastWritten = db.LastChangeSequence(WorkflowId);
                node.Kill();
                kills.Add((receiver.Count, checkpoint!));
                output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] SIGKILL {kill}: written up to seq {lastWritten}, " +
                    $"received up to {receiver.Records.Max(r => r.Position)} ({receiver.Count} records), checkpoint at least {checkpoint}");
                // The client keeps writing while the node is down.
                await Task.Delay(TimeSpan.FromMilliseconds(750));
                await node.RestartAsync();
                output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] restarted ({node.AdminUrl})");
            }

            var afterLastStart = receiver.DistinctPositions;
            await Eventually.UntilAsync("new changes arrive after the last restart", TimeSpan.FromSeconds(60),
                () => receiver.DistinctPositions >= afterLastStart + 300,
                () => $"received {receiver.DistinctPositions} distinct positions, written {writer.Written}\n{node.OutputTail()}");
        }
        finally
        {
            // Stopped (and waited for) before the database is closed, whatever happened.
            await stopWriting.CancelAsync();
            await Task.WhenAny(writing);
        }
        await writing; // surfaces a writer failure

        var last = db.LastChangeSequence(WorkflowId);
        Assert.Equal(snapshot.Count + writer.Written, last);
        var expected = DeliveryChecks.Positions(1, last);
        await Eventually.UntilAsync($"all {last} changes have arrived", TimeSpan.FromSeconds(120),
            () => receiver.MissingPositions(expected).Count == 0,
            () => $"missing {receiver.MissingPositions(expected).Count} of {last}: {string.Join(", ", receiver.MissingPositions(expected).Take(10))}\n{node.OutputTail()}");

        var records = receiver.Records;
        var distinct = records.Select(r => r.Id).Distinct().Count();
        output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] {last} changes written, {records.Count} records received, {distinct} distinct, {records.Count - distinct} redelivered, {Kills} kills");

        Assert.True(receiver.BadSignatures == 0,
            $"{receiver.BadSignatures} requests failed verification: {string.Join("; ", receiver.SignatureFailures)}");
        Assert.Equal(last, distinct);
        var otherId = DeliveryChecks.DuplicatesWithAnotherId(records);
        Assert.True(otherId.Count == 0, "a redelivered record carries another id than its first delivery: " + DeliveryChecks.Show(otherId));
        var unstable = DeliveryChecks.UnstableKeys(WorkflowId, records);
        Assert.True(unstable.Count == 0, "idempotency keys differ from IdempotencyKey.For: " + DeliveryChecks.Show(unstable));
        var backwards = DeliveryChecks.KeysGoingBackwards(records);
        Assert.True(backwards.Count == 0, "per-key order broken: " + DeliveryChecks.Show(backwards));

        // Each restart resumed from the persisted checkpoint: nothing at or below it came again.
        foreach (var (arrivedBefore, checkpoint) in kills)
        {
            var replayed = records.Skip(arrivedBefore).Where(r => string.CompareOrdinal(r.Position, checkpoint) <= 0)
                .Select(r => $"#{r.Arrival} {r.Position}").ToList();
            Assert.True(replayed.Count == 0, $"after the kill at checkpoint {checkpoint}, changes at or below it were delivered again: " + DeliveryChecks.Show(replayed));
        }

        // The checkpoint catches up after the restarts, and a graceful stop exits cleanly.
        var lastPosition = SqliteChangeTableSource.PositionOf(last).Value;
        JsonElement? workflow = null;
        await Eventually.UntilAsync($"the checkpoint is {lastPosition}", TimeSpan.FromSeconds(30), async () =>
        {
            workflow = await node.WorkflowStatusAsync(WorkflowId);
            return workflow is { } s && s.GetProperty("checkpoint").GetString() == lastPosition;
        }, () => $"status {workflow}\n{node.OutputTail()}");
        var exitCode = await node.StopAsync(TimeSpan.FromSeconds(45));
        Assert.True(exitCode == 0, $"the node exited with {exitCode} after SIGTERM\n{node.OutputTail()}");
        output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] done");
    }

    private static async Task<string> CheckpointAsync(NodeProcess node) =>
        (await node.WorkflowStatusAsync(WorkflowId))?.GetProperty("checkpoint").GetString() ?? "0";

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        NodeBinaries.TryDelete(_work);
        return Task.CompletedTask;
    }

    private static string TicketId(int n) => $"T-CRASH-{n:D6}";
}
