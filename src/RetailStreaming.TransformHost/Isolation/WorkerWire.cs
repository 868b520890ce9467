using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost.Isolation;

/// <summary>
/// Frames written into one reusable buffer and sent with one write and one flush: a batch of changes
/// from the node, a run of results (and log lines) from the worker. The JSON is written with one
/// reusable <see cref="Utf8JsonWriter"/> straight into the buffer, with no intermediate node tree.
/// </summary>
/// <remarks>Not thread-safe: the caller serializes its use.</remarks>
public sealed class FrameBuffer
{
    private const int InitialBytes = 16 * 1024;
    private const int KeptBytes = 4 * 1024 * 1024;

    private ArrayBufferWriter<byte> _buffer = new(InitialBytes);
    private readonly Utf8JsonWriter _writer;
    private int _frameStart = -1;

    /// <summary>Creates an empty buffer.</summary>
    public FrameBuffer() => _writer = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = false });

    /// <summary>Bytes written and not yet sent.</summary>
    public int Length => _buffer.WrittenCount;

    /// <summary>Starts a frame (its length is filled in by <see cref="EndFrame"/>) and returns the writer for its JSON object.</summary>
    public Utf8JsonWriter BeginFrame()
    {
        if (_frameStart >= 0) throw new InvalidOperationException("A frame is already open.");
        _frameStart = _buffer.WrittenCount;
        _buffer.GetSpan(4); // room for the header, written at the end
        _buffer.Advance(4);
        _writer.Reset(_buffer);
        return _writer;
    }

    /// <summary>Ends the open frame: writes its length before it.</summary>
    public void EndFrame()
    {
        if (_frameStart < 0) throw new InvalidOperationException("No frame is open.");
        _writer.Flush();
        var length = _buffer.WrittenCount - _frameStart - 4;
        if (length is <= 0 or > WorkerFrames.MaxFrameBytes)
        {
            AbandonFrame();
            throw new InvalidDataException($"a frame of {length} bytes is out of bounds (1 to {WorkerFrames.MaxFrameBytes})");
        }
        // ArrayBufferWriter exposes what it has written as read-only memory only: its array is ours to patch.
        var written = System.Runtime.InteropServices.MemoryMarshal.AsMemory(_buffer.WrittenMemory);
        BinaryPrimitives.WriteInt32LittleEndian(written.Span.Slice(_frameStart, 4), length);
        _frameStart = -1;
    }

    /// <summary>Drops the open frame, if any (its writing failed), keeping the frames before it.</summary>
    public void AbandonFrame()
    {
        if (_frameStart < 0) return;
        _writer.Reset(_buffer);
        // The frames before it stay in the array: only the written count goes back.
        _buffer.ResetWrittenCount();
        _buffer.Advance(_frameStart);
        _frameStart = -1;
    }

    /// <summary>Writes every complete frame to <paramref name="stream"/> in one write, flushes it, and empties the buffer.</summary>
    public void SendTo(Stream stream)
    {
        if (_frameStart >= 0) throw new InvalidOperationException("A frame is still open.");
        if (_buffer.WrittenCount == 0) return;
        try
        {
            stream.Write(_buffer.WrittenSpan);
            stream.Flush();
        }
        finally
        {
            _buffer.ResetWrittenCount();
            // One huge batch must not keep its buffer for the worker's lifetime.
            if (_buffer.Capacity > KeptBytes) _buffer = new ArrayBufferWriter<byte>(InitialBytes);
        }
    }
}

/// <summary>
/// Reads length-prefixed frames from a stream through one reusable buffer, taking whatever the pipe
/// holds in each read: a run of frames costs one read, not two per frame.
/// </summary>
/// <remarks>A returned frame's bytes are valid until the next read. Not thread-safe.</remarks>
public sealed class FrameReader(Stream stream)
{
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    /// <summary>The next frame's body, or null at the end of the stream.</summary>
    /// <exception cref="InvalidDataException">A frame is malformed or cut short.</exception>
    public async ValueTask<ReadOnlyMemory<byte>?> ReadAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (TryTake(out var frame)) return frame;
            Prepare();
            var n = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (n == 0) return End();
            _end += n;
        }
    }

    /// <summary>The next frame's body, or null at the end of the stream (blocking).</summary>
    /// <exception cref="InvalidDataException">A frame is malformed or cut short.</exception>
    public ReadOnlyMemory<byte>? Read()
    {
        while (true)
        {
            if (TryTake(out var frame)) return frame;
            Prepare();
            var n = stream.Read(_buffer.AsSpan(_end));
            if (n == 0) return End();
            _end += n;
        }
    }

    private ReadOnlyMemory<byte>? End()
    {
        if (_end == _start) return null;
        throw new InvalidDataException(_end - _start < 4 ? "the stream ended inside a frame header" : "the stream ended inside a frame");
    }

    private bool TryTake(out ReadOnlyMemory<byte> frame)
    {
        frame = default;
        if (_end - _start < 4) return false;
        var length = BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(_start, 4));
        if (length is <= 0 or > WorkerFrames.MaxFrameBytes)
            throw new InvalidDataException($"a frame of {length} bytes is out of bounds (1 to {WorkerFrames.MaxFrameBytes})");
        if (_end - _start - 4 < length) return false;
        frame = _buffer.AsMemory(_start + 4, length);
        _start += 4 + length;
        return true;
    }

    /// <summary>Makes room after what is buffered: moves it to the front, grows the buffer for a frame larger than it.</summary>
    private void Prepare()
    {
        var pending = _end - _start;
        var needed = pending >= 4 ? 4 + BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(_start, 4)) : 4;
        if (needed > _buffer.Length)
        {
            var bigger = new byte[Math.Max(needed, _buffer.Length * 2)];
            _buffer.AsSpan(_start, pending).CopyTo(bigger);
            _buffer = bigger;
        }
        else if (_start > 0 && (_buffer.Length - _end < 4096 || _start + needed > _buffer.Length))
        {
            _buffer.AsSpan(_start, pending).CopyTo(_buffer);
        }
        else
        {
            if (pending == 0) _start = _end = 0;
            return;
        }
        _start = 0;
        _end = pending;
    }
}

/// <summary>
/// The batch and result messages written and read field by field (<see cref="Utf8JsonWriter"/> and
/// <see cref="Utf8JsonReader"/> on the frame bytes): a change in exactly the form of
/// <see cref="ChangeEventJson"/> (a value reads back with the same type), an output's payload copied
/// as its JSON bytes into the host's record.
/// </summary>
public static class WorkerWire
{
    private static readonly JsonEncodedText T = JsonEncodedText.Encode("t");
    private static readonly JsonEncodedText BatchName = JsonEncodedText.Encode(WorkerMessages.Batch);
    private static readonly JsonEncodedText ResultName = JsonEncodedText.Encode(WorkerMessages.Result);
    private static readonly JsonEncodedText Seq = JsonEncodedText.Encode("seq");
    private static readonly JsonEncodedText ChangesName = JsonEncodedText.Encode("changes");
    private static readonly JsonEncodedText Source = JsonEncodedText.Encode("source");
    private static readonly JsonEncodedText Table = JsonEncodedText.Encode("table");
    private static readonly JsonEncodedText Operation = JsonEncodedText.Encode("operation");
    private static readonly JsonEncodedText Position = JsonEncodedText.Encode("position");
    private static readonly JsonEncodedText CommitTime = JsonEncodedText.Encode("commitTime");
    private static readonly JsonEncodedText Key = JsonEncodedText.Encode("key");
    private static readonly JsonEncodedText Before = JsonEncodedText.Encode("before");
    private static readonly JsonEncodedText After = JsonEncodedText.Encode("after");
    private static readonly JsonEncodedText Base64 = JsonEncodedText.Encode("$base64");
    private static readonly JsonEncodedText Outputs = JsonEncodedText.Encode("outputs");
    private static readonly JsonEncodedText Type = JsonEncodedText.Encode("type");
    private static readonly JsonEncodedText Payload = JsonEncodedText.Encode("payload");
    private static readonly JsonEncodedText Delete = JsonEncodedText.Encode("delete");
    private static readonly JsonEncodedText Kind = JsonEncodedText.Encode("kind");
    private static readonly JsonEncodedText Reason = JsonEncodedText.Encode("reason");
    private static readonly JsonEncodedText ExceptionType = JsonEncodedText.Encode("exceptionType");
    private static readonly JsonEncodedText Ms = JsonEncodedText.Encode("ms");
    private static readonly JsonEncodedText Recycle = JsonEncodedText.Encode("recycle");
    private static readonly Dictionary<ChangeOperation, JsonEncodedText> Operations =
        Enum.GetValues<ChangeOperation>().ToDictionary(o => o, o => JsonEncodedText.Encode(o.ToString().ToLowerInvariant()));

    /// <summary>The <c>t</c> of a frame (written first by both sides), or null when the frame does not start with it.</summary>
    public static string? MessageType(ReadOnlySpan<byte> frame)
    {
        var reader = new Utf8JsonReader(frame);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            if (!reader.Read() || reader.TokenType != JsonTokenType.PropertyName || !reader.ValueTextEquals("t"u8)) return null;
            return reader.Read() && reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A frame as a JSON object (the rare messages: init, ready, log).</summary>
    /// <exception cref="InvalidDataException">The frame is not a JSON object.</exception>
    public static JsonObject ParseObject(ReadOnlySpan<byte> frame)
    {
        try
        {
            var reader = new Utf8JsonReader(frame);
            return JsonNode.Parse(ref reader) as JsonObject ?? throw new InvalidDataException("a frame is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"a frame is not valid JSON: {e.Message}", e);
        }
    }

    /// <summary>Writes a <see cref="JsonObject"/> message as one frame.</summary>
    public static void WriteObject(FrameBuffer buffer, JsonObject message)
    {
        var writer = buffer.BeginFrame();
        try
        {
            message.WriteTo(writer);
        }
        catch
        {
            buffer.AbandonFrame();
            throw;
        }
        buffer.EndFrame();
    }

    // ---- node → worker: a batch ----

    /// <summary>Writes a batch frame: <c>{"t":"batch","seq":n,"changes":[...]}</c> with the changes at <paramref name="indexes"/>.</summary>
    public static void WriteBatch(FrameBuffer buffer, int seq, IReadOnlyList<ChangeEvent> changes, IReadOnlyList<int> indexes)
    {
        var w = buffer.BeginFrame();
        try
        {
            w.WriteStartObject();
            w.WriteString(T, BatchName);
            w.WriteNumber(Seq, seq);
            w.WriteStartArray(ChangesName);
            foreach (var i in indexes) WriteChange(w, changes[i]);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        catch
        {
            buffer.AbandonFrame();
            throw;
        }
        buffer.EndFrame();
    }

    /// <summary>A batch frame's sequence number and changes.</summary>
    /// <exception cref="InvalidDataException">The frame is not a batch, or a change in it is malformed.</exception>
    public static (int Seq, List<ChangeEvent> Changes) ReadBatch(ReadOnlySpan<byte> frame)
    {
        var r = new Utf8JsonReader(frame);
        try
        {
            Expect(ref r, JsonTokenType.StartObject);
            var seq = -1;
            List<ChangeEvent>? changes = null;
            string? type = null;
            while (Next(ref r) == JsonTokenType.PropertyName)
            {
                if (r.ValueTextEquals("t"u8)) { r.Read(); type = r.GetString(); }
                else if (r.ValueTextEquals("seq"u8)) { r.Read(); seq = r.GetInt32(); }
                else if (r.ValueTextEquals("changes"u8))
                {
                    Expect(ref r, JsonTokenType.StartArray);
                    changes = [];
                    while (Next(ref r) != JsonTokenType.EndArray) changes.Add(ReadChange(ref r));
                }
                else { r.Read(); r.Skip(); }
            }
            if (type != WorkerMessages.Batch || changes is null)
                throw new InvalidDataException($"a '{type}' frame where a batch was expected");
            return (seq, changes);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"a malformed batch frame: {e.Message}", e);
        }
    }

    /// <summary>Writes a change as <see cref="ChangeEventJson.ToJson"/> does.</summary>
    public static void WriteChange(Utf8JsonWriter w, ChangeEvent change)
    {
        w.WriteStartObject();
        w.WriteString(Source, change.Source);
        w.WriteString(Table, change.Table);
        if (Operations.TryGetValue(change.Operation, out var op)) w.WriteString(Operation, op);
        else w.WriteString(Operation, change.Operation.ToString().ToLowerInvariant());
        w.WriteString(Position, change.Position.Value);
        // ISO 8601 as "O" writes it, trailing zeros of the fraction left out: the same instant and offset.
        w.WriteString(CommitTime, change.CommitTime);
        w.WritePropertyName(Key);
        WriteRow(w, change.Key);
        w.WritePropertyName(Before);
        if (change.Before is null) w.WriteNullValue(); else WriteRow(w, change.Before);
        w.WritePropertyName(After);
        if (change.After is null) w.WriteNullValue(); else WriteRow(w, change.After);
        w.WriteEndObject();
    }

    private static void WriteRow(Utf8JsonWriter w, RowData row)
    {
        w.WriteStartObject();
        foreach (var (column, value) in row)
        {
            w.WritePropertyName(column);
            WriteValue(w, value);
        }
        w.WriteEndObject();
    }

    // The same values, in the same JSON forms, as ChangeEventJson's.
    private static void WriteValue(Utf8JsonWriter w, object? value)
    {
        switch (value)
        {
            case null: w.WriteNullValue(); break;
            case string s: w.WriteStringValue(s); break;
            case long l: w.WriteNumberValue(l); break;
            case int i: w.WriteNumberValue((long)i); break;
            case double d when double.IsFinite(d): w.WriteNumberValue(d); break;
            case double d: w.WriteStringValue(d.ToString("R", CultureInfo.InvariantCulture)); break;
            case decimal m: w.WriteNumberValue(m); break;
            case bool b: w.WriteBooleanValue(b); break;
            case byte[] bytes:
                w.WriteStartObject();
                w.WriteBase64String(Base64, bytes);
                w.WriteEndObject();
                break;
            case DateTimeOffset t: w.WriteStringValue(t.ToString("O", CultureInfo.InvariantCulture)); break;
            case DateTime t: w.WriteStringValue(t.ToString("O", CultureInfo.InvariantCulture)); break;
            case Guid g: w.WriteStringValue(g.ToString()); break;
            case IFormattable f: w.WriteStringValue(f.ToString(null, CultureInfo.InvariantCulture)); break;
            default: w.WriteStringValue(value.ToString()); break;
        }
    }

    /// <summary>Reads a change (the reader on its start) as <see cref="ChangeEventJson.FromJson"/> does.</summary>
    /// <exception cref="FormatException">A field is missing or malformed.</exception>
    public static ChangeEvent ReadChange(ref Utf8JsonReader r)
    {
        if (r.TokenType != JsonTokenType.StartObject) throw new FormatException("A change must be a JSON object.");
        string? source = null, table = null, operation = null, position = null, commitTime = null;
        DateTimeOffset? commitInstant = null;
        RowData? key = null, before = null, after = null;
        while (Next(ref r) == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("source"u8)) source = ReadString(ref r);
            else if (r.ValueTextEquals("table"u8)) table = ReadString(ref r);
            else if (r.ValueTextEquals("operation"u8)) operation = ReadString(ref r);
            else if (r.ValueTextEquals("position"u8)) position = ReadString(ref r);
            else if (r.ValueTextEquals("commitTime"u8))
            {
                r.Read();
                if (r.TokenType == JsonTokenType.String && r.TryGetDateTimeOffset(out var instant)) commitInstant = instant;
                else if (r.TokenType == JsonTokenType.String) commitTime = r.GetString();
                else r.Skip();
            }
            else if (r.ValueTextEquals("key"u8)) key = ReadRow(ref r, "key");
            else if (r.ValueTextEquals("before"u8)) before = ReadRow(ref r, "before");
            else if (r.ValueTextEquals("after"u8)) after = ReadRow(ref r, "after");
            else { r.Read(); r.Skip(); }
        }
        var opText = Required(operation, "operation");
        if (!Enum.TryParse<ChangeOperation>(opText, ignoreCase: true, out var op) || !Enum.IsDefined(op))
            throw new FormatException($"Field 'operation' is '{opText}'; expected insert, update, delete or read.");
        if (commitInstant is not { } commit
            && !DateTimeOffset.TryParse(Required(commitTime, "commitTime"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out commit))
            throw new FormatException("Field 'commitTime' is not an ISO 8601 time.");
        return new ChangeEvent(Required(source, "source"), Required(table, "table"), op, key ?? RowData.Empty, before, after, commit,
            new SourcePosition(Required(position, "position")));

        static string Required(string? value, string field) =>
            value is { Length: > 0 } ? value : throw new FormatException($"The change has no string field '{field}'.");
    }

    private static string? ReadString(ref Utf8JsonReader r)
    {
        r.Read();
        if (r.TokenType == JsonTokenType.String) return r.GetString();
        r.Skip();
        return null;
    }

    private static RowData? ReadRow(ref Utf8JsonReader r, string field)
    {
        r.Read();
        if (r.TokenType == JsonTokenType.Null) return null;
        if (r.TokenType != JsonTokenType.StartObject) throw new FormatException($"Field '{field}' must be a JSON object or null.");
        var values = new Dictionary<string, object?>(StringComparer.Ordinal);
        while (Next(ref r) == JsonTokenType.PropertyName)
        {
            var column = r.GetString()!;
            r.Read();
            values[column] = ReadValue(ref r, field, column);
        }
        return new RowData(values);
    }

    private static object? ReadValue(ref Utf8JsonReader r, string field, string column)
    {
        switch (r.TokenType)
        {
            case JsonTokenType.Null: return null;
            case JsonTokenType.String: return r.GetString();
            case JsonTokenType.True: return true;
            case JsonTokenType.False: return false;
            case JsonTokenType.Number:
                if (r.TryGetInt64(out var l)) return l;
                if (r.TryGetDecimal(out var m)) return m;
                return r.GetDouble();
            default:
                // {"$base64": "..."} is a byte array; other nested JSON (a json/jsonb column) is kept as its text.
                var node = JsonNode.Parse(ref r);
                if (node is JsonObject { Count: 1 } o && o["$base64"] is JsonValue b && b.TryGetValue<string>(out var text))
                {
                    try { return Convert.FromBase64String(text); }
                    catch (FormatException) { throw new FormatException($"Field '{field}.{column}' is not valid base64."); }
                }
                return node!.ToJsonString();
        }
    }

    // ---- worker → node: a result ----

    /// <summary>Writes one change's result frame; <paramref name="recycle"/> when the worker exits after it.</summary>
    public static void WriteResult(FrameBuffer buffer, TransformResult result, bool recycle)
    {
        var w = buffer.BeginFrame();
        try
        {
            w.WriteStartObject();
            w.WriteString(T, ResultName);
            switch (result)
            {
                case TransformResult.Ok ok:
                    w.WriteStartArray(Outputs);
                    foreach (var record in ok.Outputs)
                    {
                        w.WriteStartObject();
                        w.WriteString(Type, record.Type);
                        w.WriteString(Key, record.Key);
                        w.WritePropertyName(Payload);
                        record.Payload.WriteTo(w);
                        if (record.IsDelete) w.WriteBoolean(Delete, true);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    break;
                case TransformResult.Failed failed:
                    w.WriteString(Kind, failed.Kind.ToString());
                    w.WriteString(Reason, failed.Reason);
                    if (failed.ExceptionType is { } type) w.WriteString(ExceptionType, type);
                    break;
            }
            w.WriteNumber(Ms, Math.Round(result.Elapsed.TotalMilliseconds, 3));
            if (recycle) w.WriteBoolean(Recycle, true);
            w.WriteEndObject();
        }
        catch
        {
            buffer.AbandonFrame();
            throw;
        }
        buffer.EndFrame();
    }

    /// <summary>A result frame as the worker sent it.</summary>
    /// <param name="Outputs">The records (the change succeeded), or null.</param>
    /// <param name="Kind">The failure kind's name (the change failed).</param>
    /// <param name="Reason">Why it failed.</param>
    /// <param name="ExceptionType">The exception's type, when it threw.</param>
    /// <param name="Elapsed">How long the worker took over the change.</param>
    /// <param name="Recycle">The worker exits after this result.</param>
    public sealed record Result(List<OutputRecord>? Outputs, string? Kind, string? Reason, string? ExceptionType, TimeSpan Elapsed, bool Recycle);

    /// <summary>Reads a result frame; each payload becomes a node over its own copy of the payload's bytes.</summary>
    /// <exception cref="InvalidDataException">The frame is not a well-formed result.</exception>
    public static Result ReadResult(ReadOnlySpan<byte> frame)
    {
        var r = new Utf8JsonReader(frame);
        try
        {
            Expect(ref r, JsonTokenType.StartObject);
            List<OutputRecord>? outputs = null;
            string? t = null, kind = null, reason = null, exceptionType = null;
            double ms = 0;
            var recycle = false;
            while (Next(ref r) == JsonTokenType.PropertyName)
            {
                if (r.ValueTextEquals("t"u8)) t = ReadString(ref r);
                else if (r.ValueTextEquals("outputs"u8))
                {
                    Expect(ref r, JsonTokenType.StartArray);
                    outputs = [];
                    while (Next(ref r) == JsonTokenType.StartObject) outputs.Add(ReadOutput(ref r));
                }
                else if (r.ValueTextEquals("kind"u8)) kind = ReadString(ref r);
                else if (r.ValueTextEquals("reason"u8)) reason = ReadString(ref r);
                else if (r.ValueTextEquals("exceptionType"u8)) exceptionType = ReadString(ref r);
                else if (r.ValueTextEquals("ms"u8)) { r.Read(); ms = r.GetDouble(); }
                else if (r.ValueTextEquals("recycle"u8)) { r.Read(); recycle = r.TokenType == JsonTokenType.True; }
                else { r.Read(); r.Skip(); }
            }
            if (t != WorkerMessages.Result) throw new InvalidDataException($"a '{t}' frame where a result was expected");
            return new Result(outputs, kind, reason, exceptionType, TimeSpan.FromMilliseconds(ms), recycle);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new InvalidDataException($"a malformed result frame: {e.Message}", e);
        }
    }

    private static OutputRecord ReadOutput(ref Utf8JsonReader r)
    {
        string? type = null, key = null;
        JsonNode? payload = null;
        var delete = false;
        while (Next(ref r) == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("type"u8)) type = ReadString(ref r);
            else if (r.ValueTextEquals("key"u8)) key = ReadString(ref r);
            else if (r.ValueTextEquals("payload"u8))
            {
                r.Read();
                // The worker's JSON bytes, copied once into the node's own document (read lazily).
                payload = JsonNode.Parse(ref r);
            }
            else if (r.ValueTextEquals("delete"u8)) { r.Read(); delete = r.TokenType == JsonTokenType.True; }
            else { r.Read(); r.Skip(); }
        }
        if (type is null || key is null || payload is null) throw new FormatException("an output without its type, key or payload");
        return new OutputRecord(type, key, payload) { IsDelete = delete };
    }

    private static JsonTokenType Next(ref Utf8JsonReader r)
    {
        if (!r.Read()) throw new FormatException("the JSON ends early");
        return r.TokenType;
    }

    private static void Expect(ref Utf8JsonReader r, JsonTokenType type)
    {
        if (Next(ref r) != type) throw new FormatException($"expected {type}, found {r.TokenType}");
    }
}
