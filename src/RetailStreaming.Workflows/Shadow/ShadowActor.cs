using Akka.Actor;
using Akka.Event;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Workflows.Shadow;

/// <summary>
/// Runs a candidate transform on the changes the live transform has just run, compares the
/// records, and keeps the figures. It has no sink and no dead-letter store: nothing it makes
/// leaves it but the report. A child of the workflow, beside the stream, which never waits for it.
/// </summary>
internal sealed class ShadowActor : ReceiveActor
{
    /// <summary>One batch as the live transform did it.</summary>
    public sealed record Compare(IReadOnlyList<TransformedChange> Live);
    /// <summary>Changes the workflow did not hand over because the shadow was behind.</summary>
    public sealed record Skip(int Changes);
    /// <summary>To the parent: a batch is compared (so that it may hand over the next).</summary>
    public sealed record Compared;
    /// <summary>To the parent: the run is over, with its final report.</summary>
    public sealed record Stopped(ShadowReport Report);

    private readonly IWorkflowTransform _candidate;
    private readonly string _workflowId;
    private readonly ILoggingAdapter _log;
    private readonly CancellationTokenSource _stopping = new();
    private readonly DateTimeOffset _startedAt = DateTimeOffset.UtcNow;
    private readonly List<ShadowDifference> _differences = [];
    private string? _liveVersion;
    private long _equal, _different, _failed, _skipped;
    private bool _over;

    public ShadowActor(IWorkflowTransform candidate, string workflowId, ILoggingAdapter log)
    {
        _candidate = candidate;
        _workflowId = workflowId;
        _log = log;

        ReceiveAsync<Compare>(async msg =>
        {
            if (_over) return;
            var changes = msg.Live.Select(l => l.Change).ToList();
            IReadOnlyList<TransformOutcome> outcomes;
            try
            {
                outcomes = await _candidate.RunBatchAsync(changes, _stopping.Token);
            }
            catch (Exception e)
            {
                End($"the candidate failed: {e.GetType().Name}: {e.Message}");
                return;
            }
            try
            {
                for (var i = 0; i < msg.Live.Count; i++)
                {
                    var live = msg.Live[i];
                    _liveVersion = live.TransformVersion;
                    if (i >= outcomes.Count)
                    {
                        _skipped += msg.Live.Count - i; // after an overrun: not run
                        break;
                    }
                    Record(live, outcomes[i]);
                }
            }
            catch (Exception e)
            {
                // Never a crash: a failing child would be taken for a failure of the live stream.
                End($"comparing failed: {e.GetType().Name}: {e.Message}");
                return;
            }
            Context.Parent.Tell(new Compared());
            if (outcomes.Count > 0 && outcomes[^1].Overran)
                End($"the candidate overran its time budget at {changes[outcomes.Count - 1].Position}, and .NET cannot abort it");
        });
        Receive<Skip>(m => _skipped += m.Changes);
        Receive<ShadowCommands.GetReport>(_ => Sender.Tell(Report("running", null, null)));
        Receive<ShadowCommands.Stop>(_ =>
        {
            var report = Report("stopped", DateTimeOffset.UtcNow, "stopped by an operator");
            Sender.Tell(report);
            Context.Parent.Tell(new Stopped(report));
            _over = true;
            Context.Stop(Self);
        });
    }

    private void Record(TransformedChange live, TransformOutcome candidate)
    {
        var change = live.Change;
        string? diff;
        var kind = "different";
        if (candidate.Outputs is not { } outputs)
        {
            if (live.DeadLettered) { _equal++; return; } // both rejected it
            _failed++;
            kind = "failed";
            diff = "the candidate rejected it: " + candidate.Error;
        }
        else if (live.DeadLettered)
        {
            _different++;
            diff = $"the live version rejected it (dead-lettered), the candidate made {outputs.Count} record(s)";
        }
        else if ((diff = ShadowComparer.Diff(live.Outputs, outputs)) is null)
        {
            _equal++;
            return;
        }
        else
        {
            _different++;
        }
        if (_differences.Count < ShadowReport.MaxDifferences)
            _differences.Add(new ShadowDifference(change.Position.Value, change.Table, KeyJson(change), kind, diff));
    }

    private static string KeyJson(ChangeEvent change) =>
        System.Text.Json.JsonSerializer.Serialize(change.Key.ToDictionary(c => c.Key, c => c.Value));

    private void End(string reason)
    {
        _over = true;
        _log.Warning("Shadow run stopped: {Reason}", reason);
        Context.Parent.Tell(new Stopped(Report("stopped", DateTimeOffset.UtcNow, reason)));
        Context.Stop(Self);
    }

    private ShadowReport Report(string state, DateTimeOffset? stoppedAt, string? reason) =>
        new(_workflowId, state, _candidate.Version, _liveVersion, _startedAt, stoppedAt, reason,
            _equal, _different, _failed, _skipped, _differences.ToList());

    protected override void PostStop()
    {
        _stopping.Cancel();
        _candidate.Dispose();
        _stopping.Dispose();
    }
}
