using RetailStreaming.Connectors;

namespace RetailStreaming.Workflows.Tests.Fakes;

/// <summary>
/// A client endpoint in memory, scripted by the test: records what it accepts, can be slowed
/// down, made to fail (as a sink that cannot go on), or made to refuse records for good (a 4xx).
/// Each stream generation opens its own sink on it.
/// </summary>
public sealed class ScriptedEndpoint
{
    private readonly object _gate = new();
    private readonly List<DeliveryRecord> _accepted = [];
    private readonly List<int> _batchSizes = [];
    private int _failNext;
    private volatile bool _failing;
    private int _failures;
    private int _started;
    private volatile TaskCompletionSource? _hold;

    /// <summary>How long each batch takes (the sink honours cancellation while it waits).</summary>
    public TimeSpan DelayPerBatch { get; set; }

    /// <summary>Returns a reason to refuse a record for good, or null to accept it.</summary>
    public Func<DeliveryRecord, string?>? Refuse { get; set; }

    /// <summary>While true, every batch throws.</summary>
    public bool Failing
    {
        get => _failing;
        set => _failing = value;
    }

    /// <summary>The next <paramref name="count"/> batches throw.</summary>
    public void FailNextBatches(int count) => Interlocked.Exchange(ref _failNext, count);

    /// <summary>Batches wait at the endpoint until <see cref="Release"/>.</summary>
    public void Hold() => _hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Lets held batches (and later ones) through.</summary>
    public void Release()
    {
        var hold = _hold;
        _hold = null;
        hold?.TrySetResult();
    }

    /// <summary>How many batches reached the endpoint (whatever became of them).</summary>
    public int BatchesStarted => Volatile.Read(ref _started);

    /// <summary>How many batches threw.</summary>
    public int Failures => Volatile.Read(ref _failures);

    /// <summary>Every record accepted, in delivery order (duplicates included).</summary>
    public IReadOnlyList<DeliveryRecord> Accepted
    {
        get { lock (_gate) return _accepted.ToList(); }
    }

    /// <summary>How many records were accepted.</summary>
    public int AcceptedCount
    {
        get { lock (_gate) return _accepted.Count; }
    }

    /// <summary>The size of every batch that reached the endpoint.</summary>
    public IReadOnlyList<int> BatchSizes
    {
        get { lock (_gate) return _batchSizes.ToList(); }
    }

    /// <summary>A sink for one stream generation.</summary>
    public IDeliverySink Open() => new Sink(this);

    private sealed class Sink(ScriptedEndpoint endpoint) : IDeliverySink
    {
        public async Task<DeliveryResult> DeliverAsync(IReadOnlyList<DeliveryRecord> batch, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref endpoint._started);
            if (endpoint._hold is { } hold)
                await hold.Task.WaitAsync(cancellationToken);
            if (endpoint.DelayPerBatch > TimeSpan.Zero)
                await Task.Delay(endpoint.DelayPerBatch, cancellationToken);
            if (endpoint._failing || Interlocked.Decrement(ref endpoint._failNext) >= 0)
            {
                Interlocked.Increment(ref endpoint._failures);
                throw new HttpRequestException("scripted endpoint: the sink cannot go on");
            }

            var refused = new List<RefusedRecord>();
            lock (endpoint._gate)
            {
                endpoint._batchSizes.Add(batch.Count);
                foreach (var record in batch)
                {
                    if (endpoint.Refuse?.Invoke(record) is { } reason)
                        refused.Add(new RefusedRecord(record, reason));
                    else
                        endpoint._accepted.Add(record);
                }
            }
            return new DeliveryResult(refused, 1);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
