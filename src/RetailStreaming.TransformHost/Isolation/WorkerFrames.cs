using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RetailStreaming.TransformHost.Isolation;

/// <summary>
/// The transform worker's wire format over its standard input and output: each message is a
/// frame of a 4-byte little-endian length and that many bytes of one UTF-8 JSON object, whose
/// <c>t</c> field names the message (<see cref="WorkerMessages"/>), written first. Changes travel as
/// <see cref="Transforms.ChangeEventJson"/> objects. Both sides write frames through a
/// <see cref="FrameBuffer"/> (a batch, or a run of results, in one write and one flush) and read them
/// through a <see cref="FrameReader"/>; <see cref="WorkerWire"/> writes and reads batches and results
/// field by field. <see cref="Write"/> and <see cref="ReadAsync"/> are the one-frame forms.
/// </summary>
public static class WorkerFrames
{
    /// <summary>The largest frame either side accepts (a batch of big changes stays far below it).</summary>
    public const int MaxFrameBytes = 512 * 1024 * 1024;

    /// <summary>Writes one message and flushes it.</summary>
    public static void Write(Stream stream, JsonObject message)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(message);
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(header, body.Length);
        stream.Write(header);
        stream.Write(body);
        stream.Flush();
    }

    /// <summary>Reads one message; null at the end of the stream (the other side is gone).</summary>
    /// <exception cref="InvalidDataException">A frame is malformed or cut short.</exception>
    public static async Task<JsonObject?> ReadAsync(Stream stream, CancellationToken cancellationToken = default)
    {
        var header = new byte[4];
        var read = await ReadFullyAsync(stream, header, cancellationToken).ConfigureAwait(false);
        if (read == 0) return null;
        if (read < 4) throw new InvalidDataException("the stream ended inside a frame header");
        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length is <= 0 or > MaxFrameBytes)
            throw new InvalidDataException($"a frame of {length} bytes is out of bounds (1 to {MaxFrameBytes})");
        var body = new byte[length];
        if (await ReadFullyAsync(stream, body, cancellationToken).ConfigureAwait(false) < length)
            throw new InvalidDataException("the stream ended inside a frame");
        try
        {
            return JsonNode.Parse(body) as JsonObject ?? throw new InvalidDataException("a frame is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"a frame is not valid JSON: {e.Message}", e);
        }
    }

    private static async Task<int> ReadFullyAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}

/// <summary>The messages' <c>t</c> values and fields.</summary>
public static class WorkerMessages
{
    /// <summary>Host → worker, first: <c>package, version, type, packagePath, cacheDirectory, workflowId, clientId, settings, timeBudgetMs, cpuSeconds, progressPath</c> (the <see cref="WorkerProgress"/> file).</summary>
    public const string Init = "init";

    /// <summary>Worker → host: the transform is loaded and initialized (<c>version</c>).</summary>
    public const string Ready = "ready";

    /// <summary>Worker → host: loading or initializing failed (<c>stage</c>: load or initialize; <c>reason</c>); the worker then exits.</summary>
    public const string InitFailed = "initFailed";

    /// <summary>Host → worker: <c>seq</c> (the batch's number, for <see cref="WorkerProgress"/>) and <c>changes</c>, an array of change objects, run in order.</summary>
    public const string Batch = "batch";

    /// <summary>
    /// Worker → host, one per change of a batch, in order: <c>outputs</c> (type, key, payload, delete)
    /// or <c>kind</c> and <c>reason</c>; <c>ms</c>, the time the change took; <c>recycle: true</c> when
    /// the worker exits after it (it is no longer fit to run changes, e.g. after an OutOfMemoryException).
    /// The worker sends them a run at a time: at the batch's end, or every 20 ms in a long batch.
    /// </summary>
    public const string Result = "result";

    /// <summary>Worker → host: a line the transform logged (<c>level, template, values</c>).</summary>
    public const string Log = "log";
}
