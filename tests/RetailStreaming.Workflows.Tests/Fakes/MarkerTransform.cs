using System.Text.Json.Nodes;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Tests.Fakes;

/// <summary>
/// A transform that makes one record of each change (its payload names the change's position and
/// the transform version), and throws on a row marked <see cref="MemoryChangeLog.PoisonColumn"/>.
/// Like the transform host's runner, it turns the transform's exception into a failed outcome:
/// <see cref="IWorkflowTransform.RunAsync"/> never throws for the transform's own faults.
/// </summary>
public sealed class MarkerTransform(string version, bool rejectsPoison = true) : IWorkflowTransform
{
    private int _disposed;

    public string Version => version;

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
