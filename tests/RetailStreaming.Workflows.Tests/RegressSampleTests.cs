using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Tests.Fakes;
using Microsoft.Extensions.Logging.Abstractions;
using RetailStreaming.Store.Sqlite;
using RetailStreaming.Workflows.Regress;
using RetailStreaming.Workflows.Shadow;

namespace RetailStreaming.Workflows.Tests;

/// <summary>The regression sample recorder (what it picks, what it writes) and the recorded outputs' format.</summary>
public sealed class RegressSampleTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"rs-regress-{Guid.NewGuid():N}");
    private readonly SqlitePlatformStore _store;

    public RegressSampleTests()
    {
        Directory.CreateDirectory(_directory);
        _store = new SqlitePlatformStore(Path.Combine(_directory, "platform.db"));
        _store.InitializeAsync().GetAwaiter().GetResult();
    }

    public void Dispose()
    {
        _store.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    private static TransformedChange Ticket(long seq, bool deadLettered = false) =>
        new(new ChangeEvent("mem:retail", "tickets", ChangeOperation.Insert,
                new RowData(new Dictionary<string, object?> { ["ticket_id"] = $"T-{seq}" }), null,
                new RowData(new Dictionary<string, object?> { ["ticket_id"] = $"T-{seq}", ["total"] = 12.5m }),
                DateTimeOffset.UnixEpoch.AddSeconds(seq), MemoryChangeLog.PositionOf(seq)),
            deadLettered ? [] : [OutputRecord.Create("sale", $"T-{seq}", new { total = 12.50m, seq })], deadLettered, "1.2.0");

    [Fact]
    public async Task The_newest_per_flush_are_written_within_the_bound_and_dead_letters_never()
    {
        var recorder = new RegressSampleRecorder(_store.RegressSamples,
            new RegressSettings { SampleSize = 4, SamplesPerFlush = 3 }, NullLogger.Instance);
        recorder.Offer("wf-a", "acme", "Acme.Sales", [.. Enumerable.Range(1, 6).Select(i => Ticket(i)), Ticket(7, deadLettered: true)]);
        Assert.Equal(3, await recorder.FlushAsync(CancellationToken.None));
        Assert.Equal(0, await recorder.FlushAsync(CancellationToken.None)); // nothing new

        var first = await _store.RegressSamples.ListAsync("wf-a");
        Assert.Equal(["T-4", "T-5", "T-6"], first.Select(s => s.Key.Split('"')[3]));
        Assert.Equal(("acme", "Acme.Sales", "1.2.0", "tickets", "insert"), (first[0].ClientId, first[0].TransformPackage, first[0].TransformVersion, first[0].Table, first[0].Operation));
        Assert.Equal(ChangeEventJson.Serialize(Ticket(4).Change), first[0].InputJson);

        recorder.Offer("wf-a", "acme", "Acme.Sales", [Ticket(8), Ticket(9, deadLettered: true)]);
        recorder.Offer("wf-a", "acme", "Acme.Sales", [Ticket(10)]);
        Assert.Equal(2, await recorder.FlushAsync(CancellationToken.None));
        Assert.Equal(["T-5", "T-6", "T-8", "T-10"], (await _store.RegressSamples.ListAsync("wf-a")).Select(s => s.Key.Split('"')[3]));
    }

    [Fact]
    public async Task Nothing_is_recorded_when_the_sample_size_is_zero()
    {
        var recorder = new RegressSampleRecorder(_store.RegressSamples, new RegressSettings { SampleSize = 0 }, NullLogger.Instance);
        recorder.Offer("wf-a", "acme", "Acme.Sales", [Ticket(1)]);
        Assert.Equal(0, await recorder.FlushAsync(CancellationToken.None));
        Assert.Empty(await _store.RegressSamples.ListAsync("wf-a"));
    }

    [Fact]
    public void Recorded_outputs_read_back_as_the_same_records()
    {
        IReadOnlyList<OutputRecord> records = [OutputRecord.Create("sale", "T-1", new { total = 12.50m, lines = new[] { "a" } }), OutputRecord.Delete("sale", "T-2")];
        var back = RecordedOutputs.Deserialize(RecordedOutputs.Serialize(records));
        Assert.Null(ShadowComparer.Diff(records, back, "recorded", "now"));
        Assert.True(back[1].IsDelete);
        Assert.Equal("payload.total: recorded 12.50, now 13", ShadowComparer.Diff(records.Take(1).ToList(), [OutputRecord.Create("sale", "T-1", new { total = 13, lines = new[] { "a" } })], "recorded", "now"));
        Assert.Throws<FormatException>(() => RecordedOutputs.Deserialize("""[{"type":"sale"}]"""));
    }
}
