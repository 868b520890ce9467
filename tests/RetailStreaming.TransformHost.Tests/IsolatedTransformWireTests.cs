using System.Buffers.Binary;
using System.Text.Json.Nodes;
using RetailStreaming.TransformHost.Isolation;
using RetailStreaming.Transforms;
using static RetailStreaming.TransformHost.Tests.TestPackages;

namespace RetailStreaming.TransformHost.Tests;

/// <summary>
/// The worker's wire as it is sent now: batches and results written and read field by field, frames
/// sent a run at a time, and the progress file by which the node judges each change's budget and
/// blames a crash on the change that was running, whatever results were still in the worker's buffer.
/// </summary>
public sealed class IsolatedTransformWireTests : IDisposable
{
    private static readonly int TimeFactor = TestTiming.Factor;
    private readonly TempFolder _temp = new();
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        foreach (var owned in _owned) owned.Dispose();
        _temp.Dispose();
    }

    [Fact]
    public void A_change_reads_back_from_the_wire_as_it_does_from_ChangeEventJson()
    {
        var row = new RowData(new Dictionary<string, object?>
        {
            ["text"] = "é \"quoted\" <tag> \u2028", ["long"] = long.MaxValue, ["int"] = 7, ["decimal"] = 12.50m,
            ["bigDecimal"] = 79228162514264337593543950335m, ["double"] = 0.1, ["nan"] = double.NaN, ["true"] = true, ["false"] = false,
            ["null"] = null, ["bytes"] = new byte[] { 0, 1, 254, 255 }, ["empty"] = Array.Empty<byte>(),
            ["time"] = new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.FromHours(1)), ["guid"] = Guid.Parse("6f9619ff-8b86-d011-b42d-00cf4fc964ff"),
        });
        var change = new ChangeEvent("sqlite:retail", "tickets", ChangeOperation.Update, new RowData(new Dictionary<string, object?> { ["id"] = 1L }),
            row, row, new DateTimeOffset(2026, 11, 26, 8, 0, 0, 123, TimeSpan.Zero), new SourcePosition("sqlite:0000000000000000042"));
        var nested = ChangeEventJson.Deserialize("""
            {"source":"pg:x","table":"t","operation":"insert","position":"p","commitTime":"2026-11-26T08:00:00Z",
             "key":{"id":1},"before":null,"after":{"doc":{"a":[1,2,{"b":null}]},"arr":[1],"b64":{"$base64":"AAE="}}}
            """);

        foreach (var original in new[] { change, nested })
        {
            var expected = ChangeEventJson.Deserialize(ChangeEventJson.Serialize(original));
            var buffer = new FrameBuffer();
            WorkerWire.WriteBatch(buffer, 9, [original], [0]);
            var (seq, changes) = WorkerWire.ReadBatch(Frames(buffer).Single());

            Assert.Equal(9, seq);
            var actual = Assert.Single(changes);
            Assert.Equal(ChangeEventJson.Serialize(expected), ChangeEventJson.Serialize(actual));
            foreach (var (column, value) in expected.After!)
            {
                Assert.Equal(value?.GetType(), actual.After![column]?.GetType());
                Assert.Equal(value, actual.After![column]);
            }
        }
    }

    [Fact]
    public void Results_read_back_with_their_payloads_failures_and_recycle_flag()
    {
        var payload = new JsonObject { ["amount"] = 12.50m, ["lines"] = new JsonArray(1, "two", null), ["note"] = "<é>" };
        var buffer = new FrameBuffer();
        WorkerWire.WriteResult(buffer, new TransformResult.Ok(
            [new OutputRecord("sale", "T-1", payload), OutputRecord.Delete("sale", "T-0")], TimeSpan.FromMilliseconds(1.5)), recycle: false);
        WorkerWire.WriteResult(buffer, new TransformResult.Failed(TransformFailureKind.Threw, "boom\nat x", TimeSpan.FromMilliseconds(2),
            typeof(OutOfMemoryException).FullName), recycle: true);
        var frames = Frames(buffer);

        Assert.Equal(2, frames.Count);
        Assert.All(frames, frame => Assert.Equal(WorkerMessages.Result, WorkerWire.MessageType(frame)));
        var ok = WorkerWire.ReadResult(frames[0]);
        Assert.Null(ok.Kind);
        Assert.False(ok.Recycle);
        Assert.Equal(1.5, ok.Elapsed.TotalMilliseconds, 3);
        Assert.Equal(2, ok.Outputs!.Count);
        Assert.Equal(("sale", "T-1", false), (ok.Outputs[0].Type, ok.Outputs[0].Key, ok.Outputs[0].IsDelete));
        Assert.Equal(payload.ToJsonString(), ok.Outputs[0].Payload.ToJsonString());
        Assert.True(ok.Outputs[1].IsDelete);
        Assert.Equal("{}", ok.Outputs[1].Payload.ToJsonString());
        var failed = WorkerWire.ReadResult(frames[1]);
        Assert.Null(failed.Outputs);
        Assert.Equal(("Threw", "boom\nat x", typeof(OutOfMemoryException).FullName, true), (failed.Kind, failed.Reason, failed.ExceptionType, failed.Recycle));
    }

    [Fact]
    public async Task Frames_come_out_whole_however_the_stream_cuts_them()
    {
        var buffer = new FrameBuffer();
        var big = new string('x', 200_000); // larger than the reader's first buffer
        for (var i = 0; i < 50; i++)
            WorkerWire.WriteObject(buffer, new JsonObject { ["t"] = "log", ["i"] = i, ["text"] = i == 25 ? big : "small" });
        using var bytes = new MemoryStream();
        buffer.SendTo(bytes);

        foreach (var chunk in new[] { 1, 3, 4096, int.MaxValue })
        {
            var reader = new FrameReader(new ChunkedStream(bytes.ToArray(), chunk));
            for (var i = 0; i < 50; i++)
            {
                var frame = (chunk % 2 == 0 ? await reader.ReadAsync() : reader.Read()) ?? throw new Xunit.Sdk.XunitException($"frame {i} missing");
                var o = WorkerWire.ParseObject(frame.Span);
                Assert.Equal(i, (int)o["i"]!);
                Assert.Equal(i == 25 ? big.Length : 5, ((string)o["text"]!).Length);
            }
            Assert.Null(reader.Read());
        }

        var cut = new FrameReader(new MemoryStream(bytes.ToArray()[..10]));
        Assert.Throws<InvalidDataException>(() => cut.Read());
        var negative = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(negative, -5);
        Assert.Throws<InvalidDataException>(() => new FrameReader(new MemoryStream(negative)).Read());
    }

    [Fact]
    public void The_progress_file_tells_which_change_of_which_batch_runs_since_when()
    {
        var path = Path.Combine(_temp.Path, "p.progress");
        using var node = WorkerProgress.Create(path);
        using var worker = WorkerProgress.Open(path);

        Assert.Null(node.Read(1));
        worker.Running(1, 0, 1000);
        worker.Running(1, 7, 2000);
        Assert.Equal((7L, 2000L), node.Read(1));
        Assert.Null(node.Read(2)); // a later batch has not started
        worker.Done(1);
        Assert.Equal((WorkerProgress.Idle, 2000L), node.Read(1));
        worker.Running(2, 0, 3000);
        Assert.Equal((0L, 3000L), node.Read(2));
        Assert.Null(node.Read(1));
    }

    public static TheoryData<string, TransformFailureKind> Crashes => new()
    {
        { "ExitingTransform", TransformFailureKind.WorkerExited },
        { "StackOverflowTransform", TransformFailureKind.WorkerExited },
        { "EndlessLoopTransform", TransformFailureKind.Overran },
    };

    [Theory]
    [MemberData(nameof(Crashes))]
    public async Task A_crash_after_results_still_in_the_workers_buffer_fails_only_the_change_that_ran(string type, TransformFailureKind kind)
    {
        var budget = type == "EndlessLoopTransform" ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(10 * TimeFactor);
        var runner = Isolated(BadId, $"{BadNamespace}.{type}", budget);
        runner.Start();
        // Quick changes before the poison: their results are in the worker's buffer (sent at the batch's end) when it dies.
        var changes = Enumerable.Range(1, 40).Select(i => Changes.Insert(i == 31 ? "poison" : "tickets", ("id", (long)i))).ToList();

        var results = await runner.RunBatchAsync(changes);

        Assert.Equal(changes.Count, results.Count);
        for (var i = 0; i < changes.Count; i++)
        {
            if (i == 30)
            {
                Assert.Equal(kind, Assert.IsType<TransformResult.Failed>(results[i]).Kind);
                continue;
            }
            Assert.Equal(changes[i].Position.Value, Assert.Single(Assert.IsType<TransformResult.Ok>(results[i]).Outputs).Key);
        }
        Assert.Equal(1, runner.Restarts);
    }

    [Fact]
    public async Task The_budget_is_per_change_a_long_batch_of_quick_changes_never_overruns()
    {
        // A wide margin per change (the budget is 20 sleeps): on two loaded cores a worker that sleeps
        // 20 ms was once descheduled for more than 600 ms, and a margin that small tests the machine.
        var budget = TimeSpan.FromMilliseconds(1000 * TimeFactor);
        const int sleepMs = 50;
        var runner = Isolated(BadId, $"{BadNamespace}.SleepingTransform", budget,
            settings: new Dictionary<string, string> { ["sleepMs"] = sleepMs.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        runner.Start();
        // Twice the budget in all.
        var count = (int)(2 * budget.TotalMilliseconds / sleepMs);
        var changes = Enumerable.Range(1, count).Select(i => Changes.Insert("tickets", ("id", (long)i))).ToList();

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var results = await runner.RunBatchAsync(changes);

        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(started) > budget, "the batch took less than one budget: the test proves nothing");
        Assert.All(results, r => Assert.IsType<TransformResult.Ok>(r));
        Assert.Equal(0, runner.Restarts);
        Assert.All(results, r => Assert.True(r.Elapsed >= TimeSpan.FromMilliseconds(sleepMs - 1) && r.Elapsed < budget, $"elapsed {r.Elapsed}"));
    }

    private IsolatedTransformRunner Isolated(string package, string type, TimeSpan budget, IReadOnlyDictionary<string, string>? settings = null)
    {
        var runner = new IsolatedTransformRunner(Store(_temp), package, type, Contexts.For(settings: settings), budget,
            new IsolatedTransformOptions { MemoryMb = 128 });
        _owned.Add(runner);
        return runner;
    }

    private static List<byte[]> Frames(FrameBuffer buffer)
    {
        using var bytes = new MemoryStream();
        buffer.SendTo(bytes);
        var reader = new FrameReader(new MemoryStream(bytes.ToArray()));
        var frames = new List<byte[]>();
        while (reader.Read() is { } frame) frames.Add(frame.ToArray());
        return frames;
    }

    /// <summary>Gives at most <c>chunk</c> bytes per read, as a pipe may.</summary>
    private sealed class ChunkedStream(byte[] bytes, int chunk) : Stream
    {
        private int _position;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => bytes.Length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(Math.Min(chunk, buffer.Length), bytes.Length - _position);
            bytes.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => new(Read(buffer.Span));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
