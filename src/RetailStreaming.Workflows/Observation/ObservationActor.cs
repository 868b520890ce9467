using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Event;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Workflows.Observation;

/// <summary>
/// One per node (<c>/user/rs-observations</c>): every <c>interval</c> it samples the status of each
/// workflow entity this node hosts (asked of the local shard region, so the cost is one local ask
/// per hosted workflow per interval) into a ring of the last hour per workflow, and answers
/// <see cref="Observations.GetSamples"/> and <see cref="Observations.FindRecords"/> from memory.
/// </summary>
public sealed class ObservationActor : ReceiveActor, IWithTimers
{
    /// <summary>The actor's name under /user.</summary>
    public const string Name = "rs-observations";

    /// <summary>How far back samples are kept.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromHours(1);

    private readonly IActorRef _region;
    private readonly TimeSpan _interval;
    private readonly int _capacity;
    private readonly Dictionary<string, Queue<WorkflowSample>> _samples = new(StringComparer.Ordinal);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private bool _sampling;

    /// <summary>Creates it.</summary>
    public ObservationActor(IActorRef region, TimeSpan interval)
    {
        _region = region;
        _interval = interval;
        _capacity = (int)Math.Ceiling(Window / interval) + 1;
        Receive<Tick>(_ => StartSampling());
        Receive<SampledAll>(m => Record(m.Statuses));
        Receive<Observations.GetSamples>(q => Sender.Tell(Samples(q)));
        Receive<Observations.FindRecords>(q => Sender.Tell(RecordTrails.Get(Context.System).Find(NodeName, q)));
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Its props.</summary>
    public static Props Props(IActorRef region, TimeSpan interval) => Akka.Actor.Props.Create(() => new ObservationActor(region, interval));

    private string NodeName
    {
        get
        {
            var a = Cluster.Get(Context.System).SelfAddress;
            return $"{a.Host}:{a.Port}";
        }
    }

    /// <inheritdoc />
    protected override void PreStart() => Timers.StartPeriodicTimer("sample", Tick.Instance, _interval, _interval);

    private void StartSampling()
    {
        if (_sampling) return; // the previous round has not finished (a slow entity): skip this tick
        _sampling = true;
        var region = _region;
        // The region asks each of its shards (up to 3 s each under load): a short interval must not make it time out.
        var timeout = _interval > TimeSpan.FromSeconds(5) ? _interval : TimeSpan.FromSeconds(5);
        SampleAsync(region, timeout).PipeTo(Self,
            success: statuses => new SampledAll(statuses),
            failure: e =>
            {
                _log.Debug("Sampling the hosted workflows failed: {0}", e.Message);
                return new SampledAll([]);
            });
    }

    private static async Task<IReadOnlyList<WorkflowStatus>> SampleAsync(IActorRef region, TimeSpan timeout)
    {
        var state = await region.Ask<CurrentShardRegionState>(GetShardRegionState.Instance, timeout);
        var ids = state.Shards.SelectMany(s => s.EntityIds).Distinct(StringComparer.Ordinal).ToList();
        var asks = ids.Select(async id =>
        {
            try
            {
                return await region.Ask<WorkflowStatus>(new WorkflowCommands.GetStatus(id), timeout);
            }
            catch (AskTimeoutException)
            {
                return null; // a busy entity misses one sample
            }
        });
        return (await Task.WhenAll(asks)).OfType<WorkflowStatus>().ToList();
    }

    private void Record(IReadOnlyList<WorkflowStatus> statuses)
    {
        _sampling = false;
        var now = DateTimeOffset.UtcNow;
        var node = NodeName;
        foreach (var s in statuses)
        {
            if (!_samples.TryGetValue(s.WorkflowId, out var ring))
                _samples[s.WorkflowId] = ring = new Queue<WorkflowSample>();
            ring.Enqueue(new WorkflowSample(now, s.WorkflowId, s.ClientId, node, s.State, s.CapturedChanges, s.DeliveredRecords,
                s.DeadLetters, s.Retries, s.Restarts, s.SourceLagSeconds, s.LastCommitToDeliveryMs, s.InFlight));
            while (ring.Count > _capacity) ring.Dequeue();
        }
        // Workflows that left this node (or were deleted) go once their last sample is older than the window.
        foreach (var id in _samples.Where(kv => kv.Value.Count == 0 || kv.Value.Last().At < now - Window).Select(kv => kv.Key).ToList())
            _samples.Remove(id);
    }

    private Observations.Samples Samples(Observations.GetSamples q)
    {
        var wanted = q.WorkflowIds is null ? null : new HashSet<string>(q.WorkflowIds, StringComparer.Ordinal);
        var items = _samples
            .Where(kv => wanted is null || wanted.Contains(kv.Key))
            .SelectMany(kv => kv.Value.Where(s => s.At >= q.Since))
            .OrderBy(s => s.At)
            .ToList();
        return new Observations.Samples(NodeName, _interval, items);
    }

    private sealed class Tick
    {
        public static Tick Instance { get; } = new();
    }

    private sealed record SampledAll(IReadOnlyList<WorkflowStatus> Statuses);
}
