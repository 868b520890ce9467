using System.Diagnostics;
using System.Net;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;
using Xunit.Abstractions;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// A node stopped with SIGTERM while a client keeps writing: the workflow drains and checkpoints
/// before the node exits (DESIGN.md: hand-off drains and checkpoints), so the restarted node
/// delivers nothing twice.
/// </summary>
public sealed class GracefulStopTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string WorkflowId = "it-graceful-stop";
    private const string SecretVariable = "RS_IT_GRACEFUL_WEBHOOK_SECRET";
    private readonly string _work = Directory.CreateTempSubdirectory("rs-it-graceful-").FullName;

    [Fact]
    public async Task After_a_SIGTERM_mid_stream_the_node_exits_0_and_the_restarted_node_delivers_the_rest_without_duplicates()
    {
        var clock = Stopwatch.StartNew();
        var secret = StandardWebhooks.GenerateSecret();
        await using var receiver = await WebhookReceiver.StartAsync(secret);
        await using var node = await NodeProcess.StartAsync(new Dictionary<string, string> { [SecretVariable] = secret }, name: "graceful-node");
        using var db = RetailClientDatabase.Create(Path.Combine(_work, "graceful.db"));
        var snapshot = db.Write(w =>
        {
            for (var p = 1; p <= 50; p++) w.InsertProduct(RetailWriter.Sku(p), $"Product {p}", p, "grocery");
            for (var t = 1; t <= 20; t++) w.InsertTicket($"T-STOP-{t:D6}", "S001", RetailWriter.Sku(t), 1, 2.0);
        });
        var (status, body) = await node.ApplyWorkflowAsync(WorkflowFile.Retail(WorkflowId, db, receiver.Url, SecretVariable), "graceful.yaml");
        Assert.True(status == HttpStatusCode.OK, $"POST /api/workflows answered {(int)status}: {body}\n{node.OutputTail()}");
        await Eventually.UntilAsync("the capture is installed in the client database", TimeSpan.FromSeconds(30),
            () => db.CaptureInstalled(WorkflowId), () => node.OutputTail());

        using var stopWriting = new CancellationTokenSource();
        var writer = new RetailWriter(db, ticketPrefix: "T-STOP-", firstTicket: 21, hotTickets: 20, products: 50);
        var writing = writer.RunAsync(stopWriting.Token);
        int arrivedBeforeStop;
        try
        {
            await Eventually.UntilAsync("the stream flows", TimeSpan.FromSeconds(60),
                () => receiver.DistinctPositions >= 500 && !writing.IsCompleted,
                () => $"received {receiver.DistinctPositions} distinct positions, written {writer.Written}\n{node.OutputTail()}");

            var exitCode = await node.StopAsync(TimeSpan.FromSeconds(45));
            arrivedBeforeStop = receiver.Count;
            output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] SIGTERM: exit code {exitCode}, {arrivedBeforeStop} records received, {writer.Written} written");
            Assert.True(exitCode == 0, $"the node exited with {exitCode} after SIGTERM\n{node.OutputTail()}");

            await node.StartAsync();
            output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] restarted");
            await Eventually.UntilAsync("new changes arrive after the restart", TimeSpan.FromSeconds(60),
                () => receiver.DistinctPositions >= arrivedBeforeStop + 200,
                () => $"received {receiver.DistinctPositions} distinct positions, written {writer.Written}\n{node.OutputTail()}");
        }
        finally
        {
            // Stopped (and waited for) before the database is closed, whatever happened.
            await stopWriting.CancelAsync();
            await Task.WhenAny(writing);
        }
        await writing;

        var last = db.LastChangeSequence(WorkflowId);
        Assert.Equal(snapshot.Count + writer.Written, last);
        var expected = DeliveryChecks.Positions(1, last);
        await Eventually.UntilAsync($"all {last} changes have arrived", TimeSpan.FromSeconds(90),
            () => receiver.MissingPositions(expected).Count == 0,
            () => $"missing {receiver.MissingPositions(expected).Count} of {last}\n{node.OutputTail()}");

        var records = receiver.Records;
        output.WriteLine($"[{clock.Elapsed.TotalSeconds:0.0}s] {last} changes, {records.Count} records received");
        var beforeStop = records.Take(arrivedBeforeStop).Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        var redelivered = records.Skip(arrivedBeforeStop)
            .Where(r => beforeStop.Contains(r.Id))
            .Select(r => $"#{r.Arrival} {r.Position}").ToList();
        Assert.True(redelivered.Count == 0,
            "records delivered before the graceful stop came again after the restart (the stop did not drain and checkpoint): " +
            DeliveryChecks.Show(redelivered) + "\n" + node.OutputTail(150));
        Assert.Equal(last, records.Count);
        Assert.Equal(0, receiver.BadSignatures);
        var backwards = DeliveryChecks.KeysGoingBackwards(records);
        Assert.True(backwards.Count == 0, "per-key order broken: " + DeliveryChecks.Show(backwards));
        Assert.Equal(SqliteChangeTableSource.PositionOf(last).Value,
            (await node.WorkflowStatusAsync(WorkflowId))?.GetProperty("deliveredPosition").GetString());
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        NodeBinaries.TryDelete(_work);
        return Task.CompletedTask;
    }
}
