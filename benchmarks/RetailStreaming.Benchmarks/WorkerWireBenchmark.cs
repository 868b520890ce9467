using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.IO.Pipes;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetailStreaming.Samples.Retail;
using RetailStreaming.TransformHost;
using RetailStreaming.TransformHost.Isolation;
using RetailStreaming.Transforms;

namespace RetailStreaming.Benchmarks;

/// <summary>
/// Where the CPU of <c>transform.isolation: process</c> goes, stage by stage, each measured alone in
/// this process over the <c>isolation-process</c> benchmark's tickets: the node encoding a batch, the
/// worker decoding it, running the sample transform (with and without the hand-over to the runner's
/// thread), the worker encoding results, the node decoding them, and the pipe itself (a frame per
/// change, each flushed, read with two reads, against a run of frames per write read in bulk). Each
/// stage in the earlier form (JsonNode trees, a frame and a flush per result) and in the current one
/// (<see cref="WorkerWire"/>, <see cref="FrameBuffer"/>, <see cref="FrameReader"/>).
/// </summary>
public static class WorkerWireBenchmark
{
    /// <summary><c>isolation-wire [--changes 20000] [--batch 500] [--rounds 5]</c>: prints the table of CPU ms and KB allocated per 1,000 changes.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var changes = int.Parse(Arg(args, "--changes") ?? "20000", CultureInfo.InvariantCulture);
        var batchSize = int.Parse(Arg(args, "--batch") ?? "500", CultureInfo.InvariantCulture);
        var rounds = int.Parse(Arg(args, "--rounds") ?? "5", CultureInfo.InvariantCulture);
        var data = ProcessIsolationBenchmark.Tickets(changes);
        var batches = data.Chunk(batchSize).Select(c => (IReadOnlyList<ChangeEvent>)c).ToList();
        var settings = new Dictionary<string, string> { ["currency"] = "EUR", ["vatRate"] = "0.20" };
        var context = new TransformContext("bench-wire", "bench", "1.0.0", settings, NullTransformLogger.Instance);
        using var runner = new TransformRunner(new RetailTransform(), context, TimeSpan.FromSeconds(30));
        runner.Initialize();
        var results = data.Select(runner.RunOnCallingThread).ToList();
        var resultBatches = results.Chunk(batchSize).ToList();

        // The frames each stage reads, made once by the other side's encoder.
        var oldBatchFrames = batches.Select(OldEncodeBatch).ToList();
        var newBatchFrames = batches.Select(b => NewEncode(f => WorkerWire.WriteBatch(f, 1, b, Enumerable.Range(0, b.Count).ToList()))).ToList();
        var oldResultFrames = results.Select(OldEncodeResult).ToList();
        var newResultFrames = results.Select(r => NewEncode(f => WorkerWire.WriteResult(f, r, false))).ToList();

        var rows = new List<(string Stage, string Form, Measured Cost)>
        {
            ("node: encode a batch", "JsonObject tree, SerializeToUtf8Bytes", Measure(rounds, data.Count, () => { foreach (var b in batches) OldEncodeBatch(b); })),
            ("node: encode a batch", "Utf8JsonWriter into a reused buffer", Measure(rounds, data.Count, () =>
            {
                var buffer = new FrameBuffer();
                foreach (var b in batches)
                {
                    WorkerWire.WriteBatch(buffer, 1, b, Enumerable.Range(0, b.Count).ToList());
                    buffer.SendTo(Stream.Null);
                }
            })),
            ("worker: decode a batch", "JsonNode.Parse, ChangeEventJson.FromJson", Measure(rounds, data.Count, () =>
            {
                foreach (var f in oldBatchFrames)
                    foreach (var item in ((JsonNode.Parse(f.AsSpan(4)) as JsonObject)!["changes"] as JsonArray)!)
                        ChangeEventJson.FromJson(item!.AsObject());
            })),
            ("worker: decode a batch", "Utf8JsonReader", Measure(rounds, data.Count, () => { foreach (var f in newBatchFrames) WorkerWire.ReadBatch(f.AsSpan(4)); })),
            ("worker: run the transform", "TransformRunner.Run (hand-over per change)", Measure(rounds, data.Count, () => { foreach (var c in data) runner.Run(c); })),
            ("worker: run the transform", "TransformRunner.RunOnCallingThread", Measure(rounds, data.Count, () => { foreach (var c in data) runner.RunOnCallingThread(c); })),
            ("worker: encode results", "JsonObject per result, SerializeToUtf8Bytes", Measure(rounds, data.Count, () => { foreach (var r in results) OldEncodeResult(r); })),
            ("worker: encode results", "Utf8JsonWriter into a reused buffer", Measure(rounds, data.Count, () =>
            {
                var buffer = new FrameBuffer();
                foreach (var b in resultBatches)
                {
                    foreach (var r in b) WorkerWire.WriteResult(buffer, r, false);
                    buffer.SendTo(Stream.Null);
                }
            })),
            ("node: decode results", "JsonNode.Parse, records from the tree", Measure(rounds, data.Count, () => { foreach (var f in oldResultFrames) OldDecodeResult(f.AsSpan(4)); })),
            ("node: decode results", "Utf8JsonReader, payload parsed from its bytes", Measure(rounds, data.Count, () => { foreach (var f in newResultFrames) WorkerWire.ReadResult(f.AsSpan(4)); })),
            ("pipe: results worker → node", "a write and a flush per result, two reads per frame", await MeasureAsync(rounds, data.Count, () => PipeOldAsync(oldResultFrames))),
            ("pipe: results worker → node", "one write per batch, frames read in bulk", await MeasureAsync(rounds, data.Count, () => PipeNewAsync(newResultFrames, batchSize))),
        };

        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"| stage | form | CPU ms / 1,000 changes | KB allocated / 1,000 changes |");
        Console.WriteLine("|---|---|---:|---:|");
        foreach (var (stage, form, cost) in rows)
            Console.WriteLine(string.Create(c, $"| {stage} | {form} | {cost.CpuMsPer1000:0.00} | {cost.KbPer1000:N0} |"));
        return 0;
    }

    private readonly record struct Measured(double CpuMsPer1000, double KbPer1000);

    private static Measured Measure(int rounds, int changes, Action body) =>
        MeasureAsync(rounds, changes, () => { body(); return Task.CompletedTask; }).GetAwaiter().GetResult();

    /// <summary>The median round's process CPU (every thread: the pipe's reader too) and this process's allocations.</summary>
    private static async Task<Measured> MeasureAsync(int rounds, int changes, Func<Task> body)
    {
        await body(); // warm-up
        var self = Process.GetCurrentProcess();
        var cpu = new List<double>();
        var allocated = new List<double>();
        for (var i = 0; i < rounds; i++)
        {
            self.Refresh();
            var before = self.TotalProcessorTime;
            var bytes = GC.GetTotalAllocatedBytes(precise: true);
            await body();
            allocated.Add(GC.GetTotalAllocatedBytes(precise: true) - bytes);
            self.Refresh();
            cpu.Add((self.TotalProcessorTime - before).TotalMilliseconds);
        }
        return new Measured(cpu.Order().ElementAt(rounds / 2) * 1000.0 / changes, allocated.Order().ElementAt(rounds / 2) / 1024.0 * 1000.0 / changes);
    }

    private static byte[] NewEncode(Action<FrameBuffer> write)
    {
        var buffer = new FrameBuffer();
        write(buffer);
        using var copy = new MemoryStream();
        buffer.SendTo(copy);
        return copy.ToArray();
    }

    private static byte[] Framed(byte[] body)
    {
        var frame = new byte[body.Length + 4];
        BinaryPrimitives.WriteInt32LittleEndian(frame, body.Length);
        body.CopyTo(frame, 4);
        return frame;
    }

    // The earlier forms, as the node and the worker wrote and read them.

    private static byte[] OldEncodeBatch(IReadOnlyList<ChangeEvent> batch)
    {
        var array = new JsonArray();
        foreach (var change in batch) array.Add(ChangeEventJson.ToJson(change));
        return Framed(JsonSerializer.SerializeToUtf8Bytes(new JsonObject { ["t"] = WorkerMessages.Batch, ["changes"] = array }));
    }

    private static byte[] OldEncodeResult(TransformResult result)
    {
        var frame = new JsonObject { ["t"] = WorkerMessages.Result };
        var parents = new List<JsonObject>();
        if (result is TransformResult.Ok ok)
        {
            var outputs = new JsonArray();
            foreach (var record in ok.Outputs)
            {
                var o = new JsonObject { ["type"] = record.Type, ["key"] = record.Key, ["payload"] = record.Payload };
                if (record.IsDelete) o["delete"] = true;
                outputs.Add(o);
                parents.Add(o);
            }
            frame["outputs"] = outputs;
        }
        var bytes = Framed(JsonSerializer.SerializeToUtf8Bytes(frame));
        foreach (var o in parents) o.Remove("payload"); // the payloads serve the next round (the worker dropped them)
        return bytes;
    }

    private static List<OutputRecord> OldDecodeResult(ReadOnlySpan<byte> body)
    {
        var frame = JsonNode.Parse(body)!.AsObject();
        var records = new List<OutputRecord>();
        foreach (var item in frame["outputs"]!.AsArray())
        {
            var o = item!.AsObject();
            var payload = o["payload"];
            o.Remove("payload");
            records.Add(new OutputRecord((string)o["type"]!, (string)o["key"]!, payload!) { IsDelete = (bool?)o["delete"] == true });
        }
        return records;
    }

    private static async Task PipeOldAsync(List<byte[]> frames)
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        var reader = Task.Run(async () =>
        {
            var count = 0;
            while (await WorkerFrames.ReadAsync(client) is not null) count++;
            return count;
        });
        foreach (var frame in frames)
        {
            server.Write(frame.AsSpan(0, 4)); // header and body, then a flush, as WorkerFrames.Write did
            server.Write(frame.AsSpan(4));
            server.Flush();
        }
        server.Dispose();
        if (await reader != frames.Count) throw new InvalidOperationException("frames lost");
    }

    private static async Task PipeNewAsync(List<byte[]> frames, int batchSize)
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        var reader = Task.Run(async () =>
        {
            var frameReader = new FrameReader(client);
            var count = 0;
            while (await frameReader.ReadAsync() is not null) count++;
            return count;
        });
        using var run = new MemoryStream();
        foreach (var batch in frames.Chunk(batchSize))
        {
            run.SetLength(0);
            foreach (var frame in batch) run.Write(frame);
            server.Write(run.GetBuffer().AsSpan(0, (int)run.Length));
            server.Flush();
        }
        server.Dispose();
        if (await reader != frames.Count) throw new InvalidOperationException("frames lost");
    }

    private static string? Arg(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
