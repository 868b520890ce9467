using System.IO.MemoryMappedFiles;

namespace RetailStreaming.TransformHost.Isolation;

/// <summary>
/// Which change a worker is running, and since when, in a small file both processes map: the worker
/// writes it before each change (two memory stores, no system call), the node reads it when a result
/// is late or the worker is gone. So the worker can send its results a run at a time and the node
/// still judges each change's budget from the change's own start, and blames a crash on the change
/// that was running, whatever results were still in the worker's buffer.
/// </summary>
/// <remarks>
/// Layout: a 64-bit marker (the batch's sequence number in the high half; the running change's index
/// in the batch plus one in the low half, or <see cref="Idle"/> between changes after the batch) and
/// the running change's start (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>, a monotonic
/// clock both processes share). The start is written before the marker; a reader that sees the marker
/// unchanged around its read of the start has that change's start or a later one, never an earlier.
/// </remarks>
public sealed class WorkerProgress : IDisposable
{
    private const int Bytes = 4096;
    /// <summary>The marker's low half once the batch has run to its end.</summary>
    public const uint Idle = uint.MaxValue;

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;

    private WorkerProgress(MemoryMappedFile file)
    {
        _file = file;
        _view = file.CreateViewAccessor(0, 16);
    }

    /// <summary>The node's side: creates the file (zeroed: nothing running).</summary>
    public static WorkerProgress Create(string path)
    {
        using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete))
            stream.SetLength(Bytes);
        return Open(path);
    }

    /// <summary>The worker's side (or the node's, after <see cref="Create"/>): maps the file.</summary>
    public static WorkerProgress Open(string path) =>
        new(MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, Bytes, MemoryMappedFileAccess.ReadWrite));

    /// <summary>The worker starts change <paramref name="index"/> of batch <paramref name="seq"/> at <paramref name="timestamp"/>.</summary>
    public void Running(int seq, int index, long timestamp)
    {
        _view.Write(8, timestamp);
        Interlocked.MemoryBarrier();
        _view.Write(0, ((long)seq << 32) | (uint)(index + 1));
    }

    /// <summary>The worker has run batch <paramref name="seq"/> to its end.</summary>
    public void Done(int seq)
    {
        Interlocked.MemoryBarrier();
        _view.Write(0, ((long)seq << 32) | Idle);
    }

    /// <summary>
    /// The change of batch <paramref name="seq"/> the worker is running: its index and start; null when
    /// it has not started that batch yet; <see cref="Idle"/> as the index once it has run it all.
    /// </summary>
    public (long Index, long Started)? Read(int seq)
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var marker = _view.ReadInt64(0);
            Interlocked.MemoryBarrier();
            var started = _view.ReadInt64(8);
            Interlocked.MemoryBarrier();
            if (_view.ReadInt64(0) != marker) continue;
            if ((int)(marker >> 32) != seq) return null;
            var low = (uint)marker;
            return low == Idle ? (Idle, started) : low == 0 ? null : (low - 1, started);
        }
        return null; // changing too fast to read: it is making progress
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _view.Dispose();
        _file.Dispose();
    }
}
