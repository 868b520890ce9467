using System.Diagnostics;
using RetailStreaming.Transforms;

namespace RetailStreaming.Samples.Spinner;

/// <summary>
/// Burns CPU on every change for <c>spinMilliseconds</c> (setting, default 20) without ever blocking,
/// then gives one "spin" record keyed by the change's position: a well-behaved but CPU-heavy transform
/// (keep the setting under the definition's time budget). Its output does not depend on how much it
/// computed, so a replay gives the same records.
/// </summary>
public sealed class SpinnerTransform : ITransform
{
    private TimeSpan _spin = TimeSpan.FromMilliseconds(20);

    /// <summary>Keeps the arithmetic from being optimised away.</summary>
    public static long Sink;

    /// <inheritdoc />
    public void Initialize(TransformContext context)
    {
        var ms = context.GetDecimalSetting("spinMilliseconds", 20m);
        if (ms < 0) throw new ArgumentOutOfRangeException(nameof(context), ms, "spinMilliseconds must not be negative.");
        _spin = TimeSpan.FromMilliseconds((double)ms);
    }

    /// <inheritdoc />
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        var started = Stopwatch.GetTimestamp();
        long x = change.Position.Value.Length;
        while (Stopwatch.GetElapsedTime(started) < _spin)
            for (var i = 0; i < 1000; i++)
                x = x * 6364136223846793005L + 1442695040888963407L;
        Interlocked.Add(ref Sink, x & 1);
        return [OutputRecord.Create("spin", change.Position.Value, new { table = change.Table, spunMilliseconds = _spin.TotalMilliseconds })];
    }
}
