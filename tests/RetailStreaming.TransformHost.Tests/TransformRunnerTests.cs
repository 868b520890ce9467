using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetailStreaming.Transforms;
using static RetailStreaming.TransformHost.Tests.TestPackages;

namespace RetailStreaming.TransformHost.Tests;

public sealed class TransformRunnerTests : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(5);
    private readonly TempFolder _temp = new();
    private readonly TransformLoader _loader;
    private readonly List<TransformRunner> _runners = [];

    public TransformRunnerTests() => _loader = new TransformLoader(Store(_temp));

    public void Dispose()
    {
        foreach (var runner in _runners) runner.Dispose();
        _temp.Dispose();
    }

    private TransformRunner Runner(string package, string type, TimeSpan? budget = null,
        Dictionary<string, string>? settings = null, int maxOutputs = TransformRunner.DefaultMaxOutputsPerChange, ITransformLogger? logger = null)
    {
        var runner = new TransformRunner(_loader.Load(package, "1.0.0", type), Contexts.For(settings: settings, logger: logger),
            budget ?? Budget, maxOutputsPerChange: maxOutputs);
        _runners.Add(runner);
        runner.Initialize();
        return runner;
    }

    private TransformRunner Sample(Dictionary<string, string>? settings = null, ITransformLogger? logger = null) =>
        Runner(SampleId, SampleType, settings: settings, logger: logger);

    private TransformRunner Bad(string type, TimeSpan? budget = null, Dictionary<string, string>? settings = null, int maxOutputs = TransformRunner.DefaultMaxOutputsPerChange) =>
        Runner(BadId, $"{BadNamespace}.{type}", budget, settings, maxOutputs);

    private static OutputRecord Single(TransformResult result) =>
        Assert.Single(Assert.IsType<TransformResult.Ok>(result).Outputs);

    private static TransformResult.Failed Failed(TransformResult result, TransformFailureKind kind)
    {
        var failed = Assert.IsType<TransformResult.Failed>(result);
        Assert.Equal(kind, failed.Kind);
        return failed;
    }

    // ---- the sample transform ----

    [Fact]
    public void A_ticket_becomes_a_sale_with_the_workflows_currency_and_VAT()
    {
        var runner = Sample(new() { ["currency"] = "USD", ["vatRate"] = "0.055" });

        var sale = Single(runner.Run(Changes.Insert("tickets",
            ("ticket_id", "T-1"), ("store_id", "S1"), ("sku", "SKU-1"), ("quantity", 2L), ("unit_price", 9.99m), ("sold_at", "2026-11-26T10:00:00Z"))));

        Assert.Equal("sale", sale.Type);
        Assert.Equal("T-1", sale.Key);
        var p = sale.Payload;
        Assert.Equal("T-1", p["ticketId"]!.GetValue<string>());
        Assert.Equal("S1", p["storeId"]!.GetValue<string>());
        Assert.Equal("SKU-1", p["sku"]!.GetValue<string>());
        Assert.Equal(2, p["quantity"]!.GetValue<long>());
        Assert.Equal(9.99m, p["unitPrice"]!.GetValue<decimal>());
        Assert.Equal(19.98m, p["net"]!.GetValue<decimal>());
        Assert.Equal(1.10m, p["vat"]!.GetValue<decimal>()); // 19.98 * 0.055 = 1.0989
        Assert.Equal("USD", p["currency"]!.GetValue<string>());
        Assert.Equal("2026-11-26T10:00:00Z", p["soldAt"]!.GetValue<string>());
        Assert.Equal("insert", p["operation"]!.GetValue<string>());
    }

    [Fact]
    public void The_payloads_json_is_kept_as_the_delivery_would_write_it()
    {
        var runner = Sample();

        var ok = Assert.IsType<TransformResult.Ok>(runner.Run(Changes.Insert("tickets",
            ("ticket_id", "T-ü"), ("store_id", "S1"), ("sku", "SKU-<1>"), ("quantity", 2L), ("unit_price", 9.99m), ("sold_at", "2026-11-26T10:00:00Z"))));

        var json = Assert.Single(ok.PayloadJson!);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer)) Assert.Single(ok.Outputs).Payload.WriteTo(writer);
        Assert.Equal(buffer.WrittenSpan.ToArray(), json);
    }

    [Fact]
    public void A_ticket_uses_the_default_settings_and_a_deleted_ticket_is_a_tombstone()
    {
        var runner = Sample();

        var sale = Single(runner.Run(Changes.Update("main.tickets",
            ("ticket_id", "T-2"), ("store_id", "S1"), ("sku", "SKU-1"), ("quantity", 3L), ("unit_price", "1.50"), ("sold_at", null))));
        var deleted = Single(runner.Run(Changes.Delete("tickets", ("ticket_id", "T-2"))));

        Assert.Equal(4.50m, sale.Payload["net"]!.GetValue<decimal>());
        Assert.Equal(0.90m, sale.Payload["vat"]!.GetValue<decimal>());
        Assert.Equal("EUR", sale.Payload["currency"]!.GetValue<string>());
        Assert.Null(sale.Payload["soldAt"]);
        Assert.Equal("update", sale.Payload["operation"]!.GetValue<string>());
        Assert.Equal("T-2", deleted.Key);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"ticketId":"T-2","deleted":true}"""), deleted.Payload));
    }

    [Fact]
    public void A_ticket_without_items_fails_with_the_transforms_message()
    {
        var runner = Sample();

        var failed = Failed(runner.Run(Changes.Insert("tickets",
            ("ticket_id", "T-3"), ("store_id", "S1"), ("sku", "SKU-1"), ("quantity", 0L), ("unit_price", 1m), ("sold_at", null))), TransformFailureKind.Threw);

        Assert.Equal("System.InvalidOperationException", failed.ExceptionType);
        Assert.StartsWith("System.InvalidOperationException: Ticket T-3 has quantity 0; a sale needs at least one item.", failed.Reason);
        Assert.Contains("at RetailStreaming.Samples.Retail.RetailTransform.Sale", failed.Reason);
        Assert.False(runner.IsQuarantined); // a rejected record is dead-lettered; the workflow goes on
        Assert.IsType<TransformResult.Ok>(runner.Run(Changes.Insert("stores", ("store_id", "S1"), ("name", "Main"), ("city", "Lyon"))));
    }

    [Fact]
    public void Products_and_catalog_rows_become_catalog_entries()
    {
        var runner = Sample();

        var product = Single(runner.Run(Changes.Insert("products", ("sku", "SKU-1"), ("name", "Espresso"), ("price", 2.2m))));
        var categorized = Single(runner.Run(Changes.Insert("products", ("sku", "SKU-2"), ("name", "Tea"), ("price", 3L), ("category", "drinks"))));
        var listed = Single(runner.Run(Changes.Insert("catalog", ("sku", "SKU-1"), ("store_id", "S1"), ("listed", 1L))));
        var unlisted = Single(runner.Run(Changes.Delete("catalog", ("sku", "SKU-1"), ("store_id", "S1"))));

        Assert.Equal(("catalog-entry", "SKU-1"), (product.Type, product.Key));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"sku":"SKU-1","name":"Espresso","price":2.2,"category":null,"operation":"insert"}"""), product.Payload),
            product.Payload.ToJsonString());
        Assert.Equal("drinks", categorized.Payload["category"]!.GetValue<string>());
        Assert.Equal(3m, categorized.Payload["price"]!.GetValue<decimal>());
        Assert.Equal(("catalog-entry", "S1/SKU-1"), (listed.Type, listed.Key));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"sku":"SKU-1","storeId":"S1","listed":true,"operation":"insert"}"""), listed.Payload),
            listed.Payload.ToJsonString());
        Assert.Equal("S1/SKU-1", unlisted.Key);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"sku":"SKU-1","storeId":"S1","listed":false}"""), unlisted.Payload));
    }

    [Fact]
    public void Stores_become_store_documents()
    {
        var runner = Sample();

        var store = Single(runner.Run(Changes.Insert("stores", ("store_id", "S1"), ("name", "Main Street"), ("city", "Zürich"))));
        var closed = Single(runner.Run(Changes.Delete("stores", ("store_id", "S1"))));

        Assert.Equal(("store", "S1"), (store.Type, store.Key));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"storeId":"S1","name":"Main Street","city":"Zürich","deleted":false}"""), store.Payload),
            store.Payload.ToJsonString());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"storeId":"S1","name":null,"city":null,"deleted":true}"""), closed.Payload));
    }

    [Fact]
    public void An_unknown_table_fails_naming_it()
    {
        var failed = Failed(Sample().Run(Changes.Insert("coupons", ("coupon_id", "C1"))), TransformFailureKind.Threw);
        Assert.Contains("The retail transform does not know table 'coupons'.", failed.Reason);
    }

    [Fact]
    public void The_transforms_log_lines_carry_the_workflow_and_version()
    {
        var logger = new CapturingLogger();
        var context = new TransformContext("wf-sales", "acme", "1.0.0", new Dictionary<string, string> { ["currency"] = "CHF" },
            new TransformLogger(logger, "wf-sales", "1.0.0", "acme"));
        using var runner = new TransformRunner(_loader.Load(SampleId, "1.0.0", SampleType), context, Budget);

        runner.Initialize();

        var line = Assert.Single(logger.Lines);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Information, line.Level);
        Assert.Equal("Retail transform ready: currency CHF, VAT 0.20", line.Message);
        Assert.Equal("CHF", line.Properties["Currency"]);
        Assert.Equal("wf-sales", line.Properties["WorkflowId"]);
        Assert.Equal("1.0.0", line.Properties["TransformVersion"]);
        Assert.Equal("acme", line.Properties["ClientId"]);
    }

    // ---- misbehaving transforms ----

    [Fact]
    public void A_transform_that_throws_fails_with_its_exception_type_message_and_frames()
    {
        var runner = Bad("ThrowingTransform");
        var change = Changes.Insert("tickets", ("ticket_id", "T1"));

        var failed = Failed(runner.Run(change), TransformFailureKind.Threw);

        Assert.Equal("System.InvalidOperationException", failed.ExceptionType);
        Assert.StartsWith($"System.InvalidOperationException: Cannot transform tickets at {change.Position}.", failed.Reason);
        Assert.Contains($"at {BadNamespace}.ThrowingTransform.Transform", failed.Reason);
        Assert.DoesNotContain("RetailStreaming.TransformHost.TransformRunner", failed.Reason);
        Assert.False(runner.IsQuarantined);
    }

    [Fact]
    public void A_lazily_yielding_transform_that_throws_is_caught()
    {
        var runner = Bad("LazyThrowingTransform");
        var change = Changes.Insert("tickets", ("ticket_id", "T1"));

        var failed = Failed(runner.Run(change), TransformFailureKind.Threw);

        Assert.Equal("System.IO.InvalidDataException", failed.ExceptionType);
        Assert.Contains($"Lazy failure after the first record of {change.Position}.", failed.Reason);
        Assert.Contains("LazyThrowingTransform", failed.Reason);
    }

    [Fact]
    public async Task A_transform_past_its_budget_overruns_and_quarantines_the_runner()
    {
        var runner = Bad("SleepingTransform", TimeSpan.FromMilliseconds(200), new() { ["sleepMs"] = "3000" });

        var clock = Stopwatch.StartNew();
        var failed = Failed(runner.Run(Changes.Insert("tickets", ("ticket_id", "T1"))), TransformFailureKind.Overran);
        var waited = clock.Elapsed;

        Assert.InRange(waited, TimeSpan.FromMilliseconds(190), TimeSpan.FromMilliseconds(2500));
        Assert.InRange(failed.Elapsed, TimeSpan.FromMilliseconds(190), TimeSpan.FromMilliseconds(2500));
        Assert.Contains("time budget of 200 ms", failed.Reason);
        Assert.True(runner.IsQuarantined);
        Assert.Equal(failed.Reason, runner.QuarantineReason);

        clock.Restart();
        var next = Failed(runner.Run(Changes.Insert("tickets", ("ticket_id", "T2"))), TransformFailureKind.Quarantined);
        var nextAsync = Failed(await runner.RunAsync(Changes.Insert("tickets", ("ticket_id", "T3"))), TransformFailureKind.Quarantined);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), "a quarantined runner fails at once, without waiting for the abandoned call");
        Assert.Contains("quarantined", next.Reason);
        Assert.Equal(TimeSpan.Zero, nextAsync.Elapsed);
    }

    [Fact]
    public async Task An_overrun_is_detected_without_blocking_the_caller_too()
    {
        var runner = Bad("SleepingTransform", TimeSpan.FromMilliseconds(200), new() { ["sleepMs"] = "3000" });

        Failed(await runner.RunAsync(Changes.Insert("tickets", ("ticket_id", "T1"))), TransformFailureKind.Overran);

        Assert.True(runner.IsQuarantined);
    }

    [Fact]
    public void Enumerating_a_lazy_result_counts_against_the_budget()
    {
        var runner = Bad("LazySleepingTransform", TimeSpan.FromMilliseconds(200), new() { ["sleepMs"] = "150" });

        Failed(runner.Run(Changes.Insert("tickets", ("ticket_id", "T1"))), TransformFailureKind.Overran);
    }

    [Fact]
    public async Task A_call_within_budget_reports_its_time()
    {
        var runner = Bad("SleepingTransform", TimeSpan.FromSeconds(5), new() { ["sleepMs"] = "50" });

        var ok = Assert.IsType<TransformResult.Ok>(runner.Run(Changes.Insert("tickets", ("ticket_id", "T1"))));
        var okAsync = Assert.IsType<TransformResult.Ok>(await runner.RunAsync(Changes.Insert("tickets", ("ticket_id", "T2"))));

        Assert.InRange(ok.Elapsed, TimeSpan.FromMilliseconds(45), TimeSpan.FromSeconds(5));
        Assert.InRange(okAsync.Elapsed, TimeSpan.FromMilliseconds(45), TimeSpan.FromSeconds(5));
        Assert.False(runner.IsQuarantined);
    }

    [Theory]
    [InlineData("null-sequence", "Transform returned null")]
    [InlineData("null-record", "Output record 1 is null.")]
    [InlineData("empty-type", "Output record 0 has an empty type.")]
    [InlineData("empty-key", "Output record 0 (type 't') has an empty key.")]
    [InlineData("null-payload", "Output record 0 (type 't', key 'k') has a null payload.")]
    [InlineData("endless", "Transform produced more than 5 records for one change.")]
    public void Output_that_cannot_be_delivered_is_invalid(string table, string reason)
    {
        var runner = Bad("InvalidOutputTransform", maxOutputs: 5);

        var failed = Failed(runner.Run(Changes.Insert(table, ("id", 1L))), TransformFailureKind.InvalidOutput);

        Assert.Contains(reason, failed.Reason);
        Assert.False(runner.IsQuarantined);
    }

    [Fact]
    public void Output_payloads_are_detached_copies()
    {
        var runner = Bad("EchoTransform");
        var change = Changes.Insert("tickets", ("ticket_id", "T1"));

        var record = Single(runner.Run(change));

        Assert.True(JsonNode.DeepEquals(new JsonObject { ["table"] = "tickets", ["position"] = change.Position.Value }, record.Payload));
        Assert.Null(record.Payload.Parent);
    }

    [Fact]
    public void An_Initialize_that_throws_is_reported_and_the_runner_refuses_changes()
    {
        using var runner = new TransformRunner(_loader.Load(BadId, "1.0.0", $"{BadNamespace}.InitializeThrowingTransform"), Contexts.For(), Budget);

        var e = Assert.Throws<TransformInitializationException>(runner.Initialize);

        Assert.Equal(TransformFailureKind.Threw, e.Kind);
        Assert.Contains("System.Collections.Generic.KeyNotFoundException: The transform needs setting 'endpoint'.", e.Message);
        Assert.False(runner.IsInitialized);
        Assert.Throws<InvalidOperationException>(() => runner.Run(Changes.Insert("tickets", ("ticket_id", "T1"))));
    }

    [Fact]
    public void A_change_is_refused_before_Initialize_and_after_Dispose()
    {
        var runner = new TransformRunner(_loader.Load(BadId, "1.0.0", $"{BadNamespace}.EchoTransform"), Contexts.For(), Budget);
        var change = Changes.Insert("tickets", ("ticket_id", "T1"));

        Assert.Throws<InvalidOperationException>(() => runner.Run(change));
        runner.Initialize();
        Assert.Throws<InvalidOperationException>(runner.Initialize);
        Assert.IsType<TransformResult.Ok>(runner.Run(change));
        runner.Dispose();

        Assert.Throws<ObjectDisposedException>(() => runner.Run(change));
        Assert.Empty(_loader.LoadedPackages);
    }

    [Fact]
    public void A_runner_over_a_plain_instance_runs_it_too()
    {
        using var runner = new TransformRunner(new InlineTransform(), Contexts.For(), Budget);
        runner.Initialize();

        var record = Single(runner.Run(Changes.Insert("stores", ("store_id", "S9"))));

        Assert.Equal("S9", record.Key);
        Assert.Equal("stores", record.Payload["table"]!.GetValue<string>());
    }

    [Fact]
    public void A_delete_marker_keeps_its_marker_through_the_runner()
    {
        using var runner = new TransformRunner(new DeletingTransform(), Contexts.For(), Budget);
        runner.Initialize();

        var record = Single(runner.Run(Changes.Insert("stores", ("store_id", "S9"))));

        Assert.True(record.IsDelete);
        Assert.Equal(("store", "S9"), (record.Type, record.Key));
    }

    [Fact]
    public void The_budget_must_be_positive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TransformRunner(new InlineTransform(), Contexts.For(), TimeSpan.Zero));
    }

    private sealed class DeletingTransform : ITransform
    {
        public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context) =>
            [OutputRecord.Delete("store", change.Key.GetString("store_id")!)];
    }

    // ---- batches ----

    private static ChangeEvent Ticket(string id) => Changes.Insert("tickets", ("ticket_id", id));

    private ScriptedTransform Scripted(out TransformRunner runner, TimeSpan budget)
    {
        var transform = new ScriptedTransform();
        runner = new TransformRunner(transform, Contexts.For(), budget);
        _runners.Add(runner);
        runner.Initialize();
        return transform;
    }

    [Fact]
    public async Task A_batch_gives_one_result_per_change_in_order_and_a_throwing_change_fails_alone()
    {
        var transform = Scripted(out var runner, Budget);
        var batch = new[] { Ticket("a"), Ticket("b"), Ticket("throw-c"), Ticket("d"), Ticket("e") };

        var results = await runner.RunBatchAsync(batch);

        Assert.Equal(5, results.Count);
        Assert.Equal(["a", "b"], results.Take(2).Select(r => Single(r).Key));
        var failed = Failed(results[2], TransformFailureKind.Threw);
        Assert.Contains("cannot price throw-c", failed.Reason);
        Assert.Equal(["d", "e"], results.Skip(3).Select(r => Single(r).Key));
        Assert.Equal(["a", "b", "throw-c", "d", "e"], transform.Called);
        Assert.False(runner.IsQuarantined);

        // The runner takes the next batch (and single changes) as before.
        Assert.Equal("f", Single(Assert.Single(await runner.RunBatchAsync([Ticket("f")]))).Key);
        Assert.Equal("g", Single(await runner.RunAsync(Ticket("g"))).Key);
    }

    [Fact]
    public async Task An_overrun_mid_batch_ends_the_batch_there_and_quarantines_the_runner()
    {
        var transform = Scripted(out var runner, TimeSpan.FromMilliseconds(200));
        var batch = new[] { Ticket("a"), Ticket("b"), Ticket("sleep-1000"), Ticket("d"), Ticket("e") };

        var clock = Stopwatch.StartNew();
        var results = await runner.RunBatchAsync(batch);

        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(190), TimeSpan.FromMilliseconds(2500));
        Assert.Equal(3, results.Count);
        Assert.Equal(["a", "b"], results.Take(2).Select(r => Single(r).Key));
        var overran = Failed(results[2], TransformFailureKind.Overran);
        Assert.Contains("time budget of 200 ms", overran.Reason);
        Assert.True(runner.IsQuarantined);

        var next = await runner.RunBatchAsync([Ticket("f"), Ticket("g")]);
        Failed(Assert.Single(next), TransformFailureKind.Quarantined);
        // Once the abandoned change returns, the rest of its batch is not run either.
        await transform.SleptOnce.WaitAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(200); // time for the runner's thread to go on, were it to
        Assert.Equal(["a", "b", "sleep-1000"], transform.Called);
    }

    [Fact]
    public async Task The_budget_is_per_change_so_a_long_batch_of_quick_changes_does_not_overrun()
    {
        Scripted(out var runner, TimeSpan.FromMilliseconds(300));
        var batch = Enumerable.Range(0, 8).Select(i => Ticket($"sleep-100-{i}")).ToArray();

        var clock = Stopwatch.StartNew();
        var results = await runner.RunBatchAsync(batch);

        Assert.True(clock.Elapsed > TimeSpan.FromMilliseconds(700), $"the batch took {clock.Elapsed}");
        Assert.Equal(batch.Select((_, i) => $"sleep-100-{i}"), results.Select(r => Single(r).Key));
        Assert.False(runner.IsQuarantined);
    }

    [Fact]
    public async Task An_empty_batch_gives_no_results_and_a_batch_is_refused_before_Initialize()
    {
        Assert.Empty(await Sample().RunBatchAsync([]));
        using var runner = new TransformRunner(new ScriptedTransform(), Contexts.For(), Budget);
        await Assert.ThrowsAsync<InvalidOperationException>(() => runner.RunBatchAsync([Ticket("a")]));
    }

    [Fact]
    public void A_payload_holding_the_transforms_own_objects_is_delivered_as_plain_json()
    {
        using var runner = new TransformRunner(new PayloadTransform(), Contexts.For(), Budget);
        runner.Initialize();

        var record = Single(runner.Run(Changes.Insert("objects", ("id", 1L))));

        Assert.Null(record.Payload.Parent);
        Assert.Equal("""{"item":{"Name":"widget","Count":2},"list":[1,{"Name":"x","Count":0}],"n":5}""", record.Payload.ToJsonString());
        var item = record.Payload["item"]!;
        Assert.False(item is JsonValue value && value.TryGetValue<PayloadTransform.Item>(out _), "the transform's object is still in the payload");
        Assert.Equal(JsonValueKind.Object, item.GetValueKind());
    }

    [Theory]
    [InlineData("deep", "cannot be serialized")]
    [InlineData("nan", "cannot be serialized")]
    public void A_payload_that_cannot_be_delivered_is_invalid_output(string table, string reason)
    {
        using var runner = new TransformRunner(new PayloadTransform(), Contexts.For(), Budget);
        runner.Initialize();

        var failed = Failed(runner.Run(Changes.Insert(table, ("id", 1L))), TransformFailureKind.InvalidOutput);

        Assert.Contains(reason, failed.Reason);
        // The payload written half-way leaves nothing behind for the next one (one writer serves them all).
        var next = Assert.IsType<TransformResult.Ok>(runner.Run(Changes.Insert("objects", ("id", 2L))));
        Assert.Equal("""{"item":{"Name":"widget","Count":2},"list":[1,{"Name":"x","Count":0}],"n":5}"""u8.ToArray(), Assert.Single(next.PayloadJson!));
    }

    /// <summary>Payloads with the transform's own objects in them, too deep, or with a NaN.</summary>
    private sealed class PayloadTransform : ITransform
    {
        public sealed class Item
        {
            public string Name { get; set; } = "";
            public int Count { get; set; }
        }

        public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
        {
            JsonNode payload = change.Table switch
            {
                "deep" => Deep(100),
                "nan" => new JsonObject { ["value"] = double.NaN },
                _ => new JsonObject
                {
                    ["item"] = JsonValue.Create(new Item { Name = "widget", Count = 2 }),
                    ["list"] = new JsonArray(1, JsonValue.Create(new Item { Name = "x" })),
                    ["n"] = 5,
                },
            };
            return [new OutputRecord("payload", "k", payload)];
        }

        private static JsonNode Deep(int depth)
        {
            JsonNode node = new JsonObject();
            for (var i = 0; i < depth; i++) node = new JsonObject { ["inner"] = node };
            return node;
        }
    }

    /// <summary>Echoes the ticket id; "throw-…" throws, "sleep-N…" sleeps N ms first. Records what it was called with.</summary>
    private sealed class ScriptedTransform : ITransform
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _called = new();

        private readonly TaskCompletionSource _slept = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IReadOnlyList<string> Called => _called.ToArray();

        /// <summary>Completes when a first sleeping change returns.</summary>
        public Task SleptOnce => _slept.Task;

        public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
        {
            var id = change.Key.GetString("ticket_id")!;
            _called.Enqueue(id);
            if (id.StartsWith("throw", StringComparison.Ordinal))
                throw new InvalidOperationException($"cannot price {id}");
            if (id.StartsWith("sleep-", StringComparison.Ordinal))
            {
                Thread.Sleep(int.Parse(id.Split('-')[1]));
                _slept.TrySetResult();
            }
            return [new OutputRecord("echo", id, new JsonObject { ["id"] = id })];
        }
    }

    private sealed class InlineTransform : ITransform
    {
        public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context) =>
            [OutputRecord.Create("store", change.Key.GetString("store_id")!, new { Table = change.Table })];
    }
}
