using System.Text.Json.Nodes;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Tests.Fakes;

/// <summary>
/// A transform that makes one record of each change (its payload names the change's position and
/// the transform version), and throws on a row marked <see cref="MemoryChangeLog.PoisonColumn"/>.
/// Like the transform host's runner, it turns the transform's exception into a failed outcome:
/// <see cref="IWorkflowTransform.RunAsync"/> never throws for the transform's own faults.
/// </summary>
/// <remarks>
/// It takes batches as the transform host does (<see cref="RunBatchAsync"/>), records their
/// sizes, and "overruns" on a change <paramref name="overruns"/> picks: the batch ends there.
/// </remarks>
public sealed class MarkerTransform(string version, Func<ChangeEvent, bool>? overruns = null, bool rejectsPoison = true) : IWorkflowTransform
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<int> _batches = new();
    private int _disposed;

    public string Version => version;

    /// <summary>The size of every batch it was given, in order.</summary>
    public IReadOnlyList<int> BatchSizes => _batches.ToArray();

    public async Task<IReadOnlyList<TransformOutcome>> RunBatchAsync(IReadOnlyList<ChangeEvent> changes, CancellationToken cancellationToken)
    {
        _batches.Enqueue(changes.Count);
        var outcomes = new List<TransformOutcome>(changes.Count);
        foreach (var change in changes)
        {
            if (overruns?.Invoke(change) == true)
            {
                outcomes.Add(TransformOutcome.Failed($"Overran: Transform did not finish within its time budget at {change.Position}", overran: true));
                break;
            }
            outcomes.Add(await RunAsync(change, cancellationToken));
        }
        return outcomes;
    }

    /// <summary>True once the actor disposed it.</summary>
    public bool Disposed => Volatile.Read(ref _disposed) == 1;

    public Task<TransformOutcome> RunAsync(ChangeEvent change, CancellationToken cancellationToken)
    {
        try
        {
            return Task.FromResult(TransformOutcome.Ok([Transform(change)]));
        }
        catch (Exception e)
        {
            return Task.FromResult(TransformOutcome.Failed($"{e.GetType().Name}: {e.Message}"));
        }
    }

    private OutputRecord Transform(ChangeEvent change)
    {
        if (rejectsPoison && change.Row.HasValue(MemoryChangeLog.PoisonColumn))
            throw new InvalidOperationException($"ticket {change.Key.GetString("id")} cannot be priced");
        return new OutputRecord("ticket", change.Key.GetString("id")!, new JsonObject
        {
            ["position"] = change.Position.Value,
            ["version"] = version,
        });
    }

    public void Dispose() => Interlocked.Exchange(ref _disposed, 1);
}
