using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace RetailStreaming.Connectors.Files;

/// <summary>
/// Delivers records as NDJSON files in a directory: one JSON object per line, files completed by
/// size and by time, named so that they sort in delivery order.
/// </summary>
/// <remarks>
/// <para>
/// The file being filled is <c>&lt;workflow&gt;-&lt;sequence&gt;.ndjson.tmp</c>. Each batch is appended
/// to it and fsynced before <see cref="DeliverAsync"/> returns, so an acknowledged batch is on
/// disk. A file is completed when it reaches <see cref="FileSinkOptions.RollSize"/> or is
/// <see cref="FileSinkOptions.RollInterval"/> old, and when the sink is closed: fsync, rename to
/// <c>&lt;workflow&gt;-&lt;sequence&gt;.ndjson</c> (atomic), fsync of the directory. A file with the
/// <c>.ndjson</c> name is therefore always complete and never changes; readers ignore
/// <c>.tmp</c> files.
/// </para>
/// <para>
/// After a crash (kill -9, power loss) a <c>.tmp</c> file may remain, its last line possibly
/// cut. The next start recovers it before anything else: it keeps the lines up to the first one
/// that is not a complete JSON object, truncates the rest, and completes the file under its own
/// sequence number. Every acknowledged batch was fsynced, so it is among the kept lines; lines of
/// a batch that was not acknowledged may be kept too, and the workflow delivers them again after
/// its checkpoint, with the same idempotency keys (duplicates are possible, loss is not).
/// </para>
/// <para>
/// The sequence (12 digits) grows across restarts: the last one begun is kept in
/// <c>.&lt;workflow&gt;.sequence</c>, so readers may move or delete completed files. One writer per
/// workflow and directory: <c>.&lt;workflow&gt;.lock</c> is held (flock) while the sink is open.
/// </para>
/// </remarks>
public sealed class NdjsonFileSink : IDeliverySink
{
    private const string CompletedExtension = ".ndjson";
    private const string TemporaryExtension = ".ndjson.tmp";

    private readonly FileSinkOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly CancellationTokenSource _closing = new();
    private FileStream? _lock;
    private Task? _roller;
    private OpenFile? _current;
    private long _sequence;
    private bool _broken;
    private bool _disposed;

    /// <summary>Creates the sink; the directory is opened (and a crashed run's file recovered) at the first batch or <see cref="OpenAsync"/>.</summary>
    public NdjsonFileSink(FileSinkOptions options, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        options.Validate();
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The name of the completed file with sequence <paramref name="sequence"/>.</summary>
    public static string FileName(string workflowId, long sequence) =>
        $"{workflowId}-{sequence.ToString("D12", CultureInfo.InvariantCulture)}{CompletedExtension}";

    /// <summary>Takes the directory's lock, recovers what a crashed run left, and starts the time-based roll.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            EnsureOpen();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <inheritdoc />
    public async Task<DeliveryResult> DeliverAsync(IReadOnlyList<DeliveryRecord> batch, CancellationToken cancellationToken)
    {
        if (batch.Count == 0) return DeliveryResult.AllAccepted(0);
        var lines = Serialize(batch);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var started = Stopwatch.GetTimestamp();
            EnsureOpen();
            try
            {
                if (_current is { } full && full.Length > 0 && full.Length + lines.Length > _options.RollSize)
                    Complete();
                var file = _current ??= Begin();
                // Not cancellable once started: a write cut short would leave part of a line.
                Append(file, lines);
                if (file.Length >= _options.RollSize || _time.GetUtcNow() - file.Begun >= _options.RollInterval)
                    Complete();
            }
            catch
            {
                // The directory is in an unknown state (a file not renamed, a sequence not written):
                // this sink writes no more; the next one recovers on open.
                _broken = true;
                throw;
            }

            _options.Observer.Accepted(batch.Count, Stopwatch.GetElapsedTime(started));
            return DeliveryResult.AllAccepted();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>One line per record: the webhook's record fields plus <c>workflowId</c> and <c>deleted</c>.</summary>
    internal static byte[] Serialize(IReadOnlyList<DeliveryRecord> batch)
    {
        var buffer = new ArrayBufferWriter<byte>(512 * batch.Count);
        using var writer = new Utf8JsonWriter(buffer);
        foreach (var record in batch)
        {
            writer.Reset(buffer);
            writer.WriteStartObject();
            writer.WriteString("id", record.IdempotencyKey);
            writer.WriteString("workflowId", record.WorkflowId);
            writer.WriteString("type", record.Record.Type);
            writer.WriteString("key", record.Record.Key);
            writer.WriteString("position", record.Position.Value);
            writer.WriteNumber("outputIndex", record.OutputIndex);
            writer.WriteString("table", record.Table);
            writer.WriteString("operation", record.Operation.ToString().ToLowerInvariant());
            writer.WriteString("commitTime", record.CommitTime.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
            if (record.TransformVersion is { } version)
                writer.WriteString("transformVersion", version);
            writer.WriteBoolean("deleted", record.Record.IsDelete);
            writer.WritePropertyName("data");
            record.Record.Payload.WriteTo(writer);
            writer.WriteEndObject();
            writer.Flush();
            buffer.Write("\n"u8);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private void EnsureOpen()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_broken)
            throw new IOException($"File sink {_options.Directory}: an earlier write failed; the sink must be reopened.");
        if (_lock is not null) return;

        try
        {
            Directory.CreateDirectory(_options.Directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SinkConfigurationException($"File sink: cannot create directory '{_options.Directory}': {e.Message}", e);
        }

        var lockPath = Path.Combine(_options.Directory, $".{_options.WorkflowId}.lock");
        try
        {
            // FileShare.None takes an exclusive flock on Unix: a second writer of the workflow (an
            // old stream not yet closed, another node) fails here instead of mixing lines.
            _lock = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new SinkConfigurationException($"File sink: cannot write in directory '{_options.Directory}': {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new IOException(
                $"File sink: directory '{_options.Directory}' is in use by another writer of workflow '{_options.WorkflowId}' ({lockPath}).", e);
        }

        try
        {
            _sequence = Math.Max(ReadSequenceFile(), Recover());
        }
        catch
        {
            // Open again from scratch next time, rather than write with an unknown sequence.
            _lock.Dispose();
            _lock = null;
            throw;
        }

        // Task.Run: not on the caller's task scheduler. An actor's async receive runs on the
        // actor's own scheduler, whose continuations stop running once the actor stops, and
        // DisposeAsync would then wait for this loop for ever (with the lock held).
        var closing = _closing.Token;
        _roller = Task.Run(() => RollOnTimeAsync(closing), CancellationToken.None);
    }

    /// <summary>Completes the temporary files a crashed run left; returns the highest sequence found in the directory.</summary>
    private long Recover()
    {
        long highest = 0;
        var prefix = _options.WorkflowId + "-";
        foreach (var path in Directory.EnumerateFiles(_options.Directory, prefix + "*").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(path);
            var extension = name.EndsWith(TemporaryExtension, StringComparison.Ordinal) ? TemporaryExtension
                : name.EndsWith(CompletedExtension, StringComparison.Ordinal) ? CompletedExtension
                : null;
            if (extension is null
                || !long.TryParse(name.AsSpan(prefix.Length, name.Length - prefix.Length - extension.Length),
                    NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
                continue;
            highest = Math.Max(highest, sequence);
            if (extension == TemporaryExtension)
                RecoverTemporary(path, sequence);
        }

        return highest;
    }

    private void RecoverTemporary(string path, long sequence)
    {
        long valid;
        long total;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            total = stream.Length;
            valid = ValidPrefixLength(stream);
            if (valid < total)
            {
                stream.SetLength(valid);
            }

            stream.Flush(flushToDisk: true);
        }

        if (valid == 0)
        {
            File.Delete(path);
            DirectorySync.Flush(_options.Directory);
            _logger.LogWarning("File sink removed {File}: an interrupted file with no complete line", Path.GetFileName(path));
            return;
        }

        var completed = Path.Combine(_options.Directory, FileName(_options.WorkflowId, sequence));
        File.Move(path, completed, overwrite: false);
        DirectorySync.Flush(_options.Directory);
        _logger.LogWarning("File sink recovered {File} after an interrupted run: kept {Valid} of {Total} bytes",
            Path.GetFileName(completed), valid, total);
    }

    /// <summary>The length of the leading complete lines that each hold one JSON object (read in chunks: a file may exceed any array).</summary>
    internal static long ValidPrefixLength(Stream stream)
    {
        stream.Position = 0;
        var line = new ArrayBufferWriter<byte>(4096);
        var buffer = new byte[81920];
        long valid = 0;
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            var rest = buffer.AsSpan(0, read);
            while (true)
            {
                var end = rest.IndexOf((byte)'\n');
                if (end < 0)
                {
                    line.Write(rest);
                    break;
                }

                line.Write(rest[..end]);
                if (!IsJsonObject(line.WrittenSpan)) return valid;
                valid += line.WrittenCount + 1;
                line.ResetWrittenCount();
                rest = rest[(end + 1)..];
            }
        }

        return valid;
    }

    private static bool IsJsonObject(ReadOnlySpan<byte> line)
    {
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
            reader.Skip();
            return !reader.Read(); // nothing after the object
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private OpenFile Begin()
    {
        var sequence = _sequence + 1;
        WriteSequenceFile(sequence);
        _sequence = sequence;
        var path = Path.Combine(_options.Directory, FileName(_options.WorkflowId, sequence) + ".tmp");
        var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);
        // The file's directory entry must be durable before a batch in it is acknowledged.
        DirectorySync.Flush(_options.Directory);
        return new OpenFile(path, stream, _time.GetUtcNow());
    }

    private void Append(OpenFile file, byte[] lines)
    {
        try
        {
            file.Stream.Write(lines);
            file.Stream.Flush(flushToDisk: true);
            file.Length += lines.Length;
        }
        catch
        {
            // Leave no partial line behind: cut the file back to its last durable batch; the next
            // start (the workflow rebuilds its stream) completes it.
            _broken = true;
            try
            {
                file.Stream.SetLength(file.Length);
                file.Stream.Flush(flushToDisk: true);
            }
            catch (IOException)
            {
                // The next start cuts the incomplete line.
            }

            throw;
        }
    }

    /// <summary>fsync, rename to the completed name, fsync of the directory.</summary>
    private void Complete()
    {
        if (_current is not { } file) return;
        _current = null;
        file.Stream.Flush(flushToDisk: true);
        file.Stream.Dispose();
        if (file.Length == 0)
        {
            File.Delete(file.Path);
            DirectorySync.Flush(_options.Directory);
            return;
        }

        var completed = file.Path[..^".tmp".Length];
        File.Move(file.Path, completed, overwrite: false);
        DirectorySync.Flush(_options.Directory);
        _logger.LogDebug("File sink completed {File} ({Bytes} bytes)", Path.GetFileName(completed), file.Length);
    }

    private async Task RollOnTimeAsync(CancellationToken cancellationToken)
    {
        var period = TimeSpan.FromTicks(Math.Clamp(_options.RollInterval.Ticks / 4, TimeSpan.TicksPerMillisecond * 50, TimeSpan.TicksPerSecond * 5));
        using var timer = new PeriodicTimer(period, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    if (!_broken && _current is { } file && _time.GetUtcNow() - file.Begun >= _options.RollInterval)
                        Complete();
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _broken = true;
                    _logger.LogError(e, "File sink could not complete its file in {Directory}", _options.Directory);
                }
                finally
                {
                    _gate.Release();
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Closing.
        }
    }

    private string SequencePath => Path.Combine(_options.Directory, $".{_options.WorkflowId}.sequence");

    private long ReadSequenceFile()
    {
        try
        {
            return long.TryParse(File.ReadAllText(SequencePath).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : 0;
        }
        catch (FileNotFoundException)
        {
            return 0;
        }
    }

    /// <summary>Records the sequence of the file being begun (temp file, fsync, rename), so names keep growing when readers remove files.</summary>
    private void WriteSequenceFile(long sequence)
    {
        var temporary = SequencePath + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(System.Text.Encoding.ASCII.GetBytes(sequence.ToString(CultureInfo.InvariantCulture)));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, SequencePath, overwrite: true);
    }

    /// <summary>Completes the current file and releases the directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        await _closing.CancelAsync().ConfigureAwait(false);
        if (_roller is not null)
            await _roller.ConfigureAwait(false);
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_disposed) return;
            _disposed = true;
            if (_current is { } file)
            {
                if (_broken)
                    file.Stream.Dispose(); // left as .tmp: the next start recovers its complete lines
                else
                    Complete();
            }
        }
        finally
        {
            _lock?.Dispose();
            _gate.Release();
            _closing.Dispose();
        }
    }

    private sealed class OpenFile(string path, FileStream stream, DateTimeOffset begun)
    {
        public string Path { get; } = path;

        public FileStream Stream { get; } = stream;

        public DateTimeOffset Begun { get; } = begun;

        /// <summary>Bytes written and fsynced.</summary>
        public long Length { get; set; }
    }
}
