using Akka.Actor;
using Microsoft.Extensions.Logging;
using RetailStreaming.Store;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Regress;

/// <summary>
/// Picks regression samples from what the workflows' transforms did, off the stream: the workflow
/// hands each done batch over (<see cref="Offer"/>: a lock and a few queue operations, no I/O, no
/// serialization), the recorder keeps the newest <see cref="RegressSettings.SamplesPerFlush"/> per
/// workflow, table and operation in memory, and <see cref="FlushAsync"/> (every
/// <see cref="RegressSettings.FlushInterval"/>, from the node's background loop) writes them in one
/// transaction, the store keeping the newest <see cref="RegressSettings.SampleSize"/>. Changes the
/// transform rejected are dead letters, not samples. A failed write loses those samples and is logged;
/// it never slows or stops a workflow.
/// </summary>
public sealed class RegressSampleRecorder
{
    private sealed record Pending(string ClientId, string Package, TransformedChange Done);

    private readonly RegressSampleStore _store;
    private readonly RegressSettings _settings;
    private readonly ILogger _log;
    private readonly Lock _gate = new();
    private Dictionary<(string Workflow, string Table, string Operation), Queue<Pending>> _pending = [];

    /// <summary>Creates a recorder writing to <paramref name="store"/>.</summary>
    public RegressSampleRecorder(RegressSampleStore store, RegressSettings settings, ILogger log)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(settings.SampleSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(settings.SamplesPerFlush);
        _store = store;
        _settings = settings;
        _log = log;
    }

    /// <summary>The settings it records with.</summary>
    public RegressSettings Settings => _settings;

    /// <summary>Takes a done batch of a workflow: its successfully transformed changes are candidates.</summary>
    internal void Offer(string workflowId, string clientId, string package, IReadOnlyList<TransformedChange> done)
    {
        if (_settings.SampleSize == 0 || done.Count == 0) return;
        // Only the newest SamplesPerFlush of each kind in the batch can be kept: pick them before
        // taking the lock, newest first, so that a big batch costs a pass and a few enqueues.
        var picked = new List<TransformedChange>(Math.Min(done.Count, _settings.SamplesPerFlush * 4));
        var perKind = new Dictionary<(string Table, ChangeOperation Operation), int>();
        for (var i = done.Count - 1; i >= 0; i--)
        {
            var d = done[i];
            if (d.DeadLettered) continue;
            var kind = (d.Change.Table, d.Change.Operation);
            perKind.TryGetValue(kind, out var n);
            if (n >= _settings.SamplesPerFlush) continue;
            perKind[kind] = n + 1;
            picked.Add(d);
        }
        lock (_gate)
        {
            for (var i = picked.Count - 1; i >= 0; i--)
            {
                var d = picked[i];
                var key = (workflowId, d.Change.Table, Operation(d.Change.Operation));
                if (!_pending.TryGetValue(key, out var queue))
                    _pending[key] = queue = new Queue<Pending>();
                queue.Enqueue(new Pending(clientId, package, d));
                if (queue.Count > _settings.SamplesPerFlush) queue.Dequeue();
            }
        }
    }

    /// <summary>Writes the samples picked since the last flush; returns how many.</summary>
    public async Task<int> FlushAsync(CancellationToken cancellationToken)
    {
        Dictionary<(string Workflow, string Table, string Operation), Queue<Pending>> taken;
        lock (_gate)
        {
            if (_pending.Count == 0) return 0;
            (taken, _pending) = (_pending, []);
        }
        var samples = new List<RegressSample>();
        foreach (var ((workflow, table, operation), queue) in taken)
        {
            foreach (var p in queue)
            {
                var change = p.Done.Change;
                samples.Add(new RegressSample(0, workflow, p.ClientId, change.Position.Value, table, operation,
                    ChangeEventJson.RowToJson(change.Key).ToJsonString(), p.Package, p.Done.TransformVersion,
                    ChangeEventJson.Serialize(change), RecordedOutputs.Serialize(p.Done.Outputs), default));
            }
        }
        try
        {
            await _store.AddAsync(samples, Math.Max(1, _settings.SampleSize), cancellationToken).ConfigureAwait(false);
            return samples.Count;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _log.LogWarning(e, "Recording {Count} regression samples failed; they are dropped (the workflows are not affected)", samples.Count);
            return 0;
        }
    }

    private static string Operation(ChangeOperation operation) => operation switch
    {
        ChangeOperation.Insert => "insert",
        ChangeOperation.Update => "update",
        ChangeOperation.Delete => "delete",
        ChangeOperation.Read => "read",
        var other => other.ToString().ToLowerInvariant(),
    };
}

/// <summary>
/// Where a workflow finds its node's <see cref="RegressSampleRecorder"/>; none is set in tests and
/// hosts that do not record (then nothing is recorded).
/// </summary>
public sealed class RegressSamples : IExtension
{
    /// <summary>The node's recorder, or null.</summary>
    public RegressSampleRecorder? Recorder { get; set; }

    /// <summary>The extension of <paramref name="system"/>.</summary>
    public static RegressSamples Get(ActorSystem system) => system.WithExtension<RegressSamples, RegressSamplesProvider>();

    private sealed class RegressSamplesProvider : ExtensionIdProvider<RegressSamples>
    {
        public override RegressSamples CreateExtension(ExtendedActorSystem system) => new();
    }
}
