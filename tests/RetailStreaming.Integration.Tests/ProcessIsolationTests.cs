using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using RetailStreaming.Connectors.Sqlite;
using RetailStreaming.Integration.Tests.Harness;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// <c>transform.isolation: process</c> through a real node: a transform that calls Environment.Exit on
/// a poison change ends its worker process, not the node; the change is dead-lettered with the exit
/// code, a new worker transforms the rest, and everything else reaches the real webhook endpoint.
/// </summary>
[Collection(SharedNodeCollection.Name)]
public sealed class ProcessIsolationTests(SharedNodeFixture fixture)
{
    private const string WorkflowId = "it-process-isolation";
    private const string BadPackage = "RetailStreaming.TransformHost.Tests.BadTransforms";
    private const string PoisonTicket = "POISON-1";

    [Fact]
    public async Task A_transform_that_exits_its_worker_dead_letters_that_change_and_the_node_delivers_the_others()
    {
        var node = fixture.Node;
        var nodePid = node.ProcessId;
        await PublishBadTransformsAsync(node);
        await using var receiver = await WebhookReceiver.StartAsync(fixture.Secret);
        using var db = RetailClientDatabase.Create(Path.Combine(fixture.WorkDirectory, "process-isolation.db"));
        var snapshot = db.Write(w =>
        {
            for (var t = 1; t <= 10; t++) w.InsertTicket($"T-ISO-{t:D3}", "S001", "SKU-00001", 1, 2.0);
        });

        var yaml = WorkflowFile.Retail(WorkflowId, db, receiver.Url, SharedNodeFixture.SecretVariable)
            .Replace("package: RetailStreaming.Samples.Retail", $"package: {BadPackage}")
            .Replace("type: RetailStreaming.Samples.Retail.RetailTransform", $"type: {BadPackage}.ExitingTransform\n  isolation: process\n  limits: {{ memoryMb: 256 }}");
        var (status, body) = await node.ApplyWorkflowAsync(yaml, "process-isolation.yaml");
        Assert.True(status == HttpStatusCode.OK, $"POST /api/workflows answered {(int)status}: {body}\n{node.OutputTail()}");
        await Eventually.UntilAsync("the capture is installed in the client database", TimeSpan.FromSeconds(30),
            () => db.CaptureInstalled(WorkflowId), () => node.OutputTail());
        // The poison change sits between ordinary ones, in the same transaction.
        var streamed = db.Write(w =>
        {
            for (var t = 11; t <= 20; t++) w.InsertTicket($"T-ISO-{t:D3}", "S001", "SKU-00001", 1, 2.0);
            w.InsertTicket(PoisonTicket, "S001", "SKU-00001", 1, 2.0);
            for (var t = 21; t <= 30; t++) w.InsertTicket($"T-ISO-{t:D3}", "S001", "SKU-00001", 1, 2.0);
        }).ToList();

        var last = db.LastChangeSequence(WorkflowId);
        Assert.Equal(snapshot.Count + streamed.Count, last);
        var poisonPosition = SqliteChangeTableSource.PositionOf(snapshot.Count + 1 + streamed.FindIndex(c => c.Key == PoisonTicket)).Value;
        var expected = DeliveryChecks.Positions(1, last).Where(p => p != poisonPosition).ToList();
        await Eventually.UntilAsync("every other change has arrived", TimeSpan.FromSeconds(90),
            () => receiver.MissingPositions(expected).Count == 0,
            () => $"missing {receiver.MissingPositions(expected).Count} of {expected.Count}\n{node.OutputTail()}");

        JsonElement letters = default;
        await Eventually.UntilAsync("the poison change is dead-lettered", TimeSpan.FromSeconds(60), async () =>
        {
            letters = await node.GetJsonAsync($"/api/workflows/{WorkflowId}/dead-letters");
            return letters.GetArrayLength() >= 1;
        }, () => $"dead letters: {letters}\n{node.OutputTail()}");
        var letter = Assert.Single(letters.EnumerateArray());
        Assert.Equal("transform", letter.GetProperty("stage").GetString());
        Assert.Equal(poisonPosition, letter.GetProperty("position").GetString());
        Assert.Equal("1.0.0", letter.GetProperty("transformVersion").GetString());
        var reason = letter.GetProperty("reason").GetString()!;
        Assert.Contains("WorkerExited: the transform worker", reason);
        Assert.Contains("exited with code 3", reason);
        Assert.Contains("exiting on purpose", reason);
        Assert.Contains(PoisonTicket, letter.GetProperty("inputJson").GetString());

        // The node is the same process, the workflow runs (not quarantined), the records are the
        // worker's, and it was replaced once.
        Assert.True(node.IsRunning, node.OutputTail());
        Assert.Equal(nodePid, node.ProcessId);
        Assert.DoesNotContain(receiver.Records, r => r.Position == poisonPosition);
        Assert.All(receiver.Records, r => Assert.Equal("echo", r.Type));
        Assert.Equal(0, receiver.BadSignatures);
        JsonElement? workflow = null;
        var lastPosition = SqliteChangeTableSource.PositionOf(last).Value;
        await Eventually.UntilAsync($"the checkpoint is {lastPosition}", TimeSpan.FromSeconds(30), async () =>
        {
            workflow = await node.WorkflowStatusAsync(WorkflowId);
            return workflow is { } s && s.GetProperty("checkpoint").GetString() == lastPosition;
        }, () => $"status {workflow}\n{node.OutputTail()}");
        Assert.Equal("running", workflow!.Value.GetProperty("state").GetString());
        Assert.Contains("Transform worker", node.OutputTail(400));
        Assert.Contains("replaced (1 restart(s))", node.OutputTail(400));
    }

    [Fact]
    public async Task A_worker_that_dies_on_every_start_makes_the_workflow_fail_visibly_with_backoff_not_spin()
    {
        const string id = "it-process-isolation-dies";
        var node = fixture.Node;
        await PublishBadTransformsAsync(node);
        await using var receiver = await WebhookReceiver.StartAsync(fixture.Secret);
        using var db = RetailClientDatabase.Create(Path.Combine(fixture.WorkDirectory, "process-isolation-dies.db"));
        db.Write(w => w.InsertTicket("T-DIES-001", "S001", "SKU-00001", 1, 2.0));
        var yaml = WorkflowFile.Retail(id, db, receiver.Url, SharedNodeFixture.SecretVariable)
            .Replace("package: RetailStreaming.Samples.Retail", $"package: {BadPackage}")
            .Replace("type: RetailStreaming.Samples.Retail.RetailTransform", $"type: {BadPackage}.ExitOnInitializeTransform\n  isolation: process");

        var (status, body) = await node.ApplyWorkflowAsync(yaml, "process-isolation-dies.yaml");
        Assert.True(status == HttpStatusCode.OK, $"POST /api/workflows answered {(int)status}: {body}\n{node.OutputTail()}");

        JsonElement? workflow = null;
        await Eventually.UntilAsync("the workflow shows the worker's exit", TimeSpan.FromSeconds(60), async () =>
        {
            workflow = await node.WorkflowStatusAsync(id);
            return workflow is { } s && s.GetProperty("state").GetString() == "restarting"
                   && s.GetProperty("lastError").GetString() is { } e && e.Contains("exited with code 7");
        }, () => $"status {workflow}\n{node.OutputTail()}");
        Assert.Contains("while starting", workflow!.Value.GetProperty("lastError").GetString());

        // Restarts follow the workflow's exponential backoff (1 s, 2 s, 4 s ... here): a few in a
        // window of seconds, where a loop restarting the worker at once would make hundreds.
        var before = workflow.Value.GetProperty("restarts").GetInt32();
        await Task.Delay(TimeSpan.FromSeconds(6));
        var after = (await node.WorkflowStatusAsync(id))!.Value.GetProperty("restarts").GetInt32();
        Assert.InRange(after - before, 0, 4);
        Assert.True(node.IsRunning, node.OutputTail());
        Assert.Equal(0, receiver.Count);
    }

    private static async Task PublishBadTransformsAsync(NodeProcess node)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "transform-packages", $"{BadPackage}.1.0.0.nupkg");
        Assert.True(File.Exists(path), $"the test build packs {path}; build tests/RetailStreaming.Integration.Tests first");
        var bytes = await File.ReadAllBytesAsync(path);
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await node.Admin.PostAsync(
            $"/api/transforms?sha256={Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))}", content);
        Assert.True(response.IsSuccessStatusCode, $"publishing {BadPackage} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }
}
