using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Event;
using RetailStreaming.Connectors;
using RetailStreaming.Definitions;
using RetailStreaming.Store;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Delivery;
using RetailStreaming.Workflows.Protocol;
using DeadLetter = RetailStreaming.Store.DeadLetter;

namespace RetailStreaming.Workflows.Redrive;

/// <summary>
/// One redrive of a workflow's dead letters, as a child of the workflow actor: it opens a sink
/// (and, for transform dead letters, the transform) of the workflow's current definition, handles
/// the letters one at a time in the order asked, records each outcome in the store, answers, and
/// stops. It never touches the running stream: the records it sends carry their original
/// idempotency keys (workflow id, position, output index), so the endpoint sees the same record
/// again, not a new one.
/// </summary>
internal sealed class RedriveActor : ReceiveActor
{
    /// <summary>Starts the redrive; the answer goes to <paramref name="ReplyTo"/>.</summary>
    public sealed record Run(WorkflowCommands.Redrive Command, IActorRef ReplyTo);

    /// <summary>Sent to the workflow when done (before stopping).</summary>
    public sealed record Done;

    private readonly WorkflowDefinition _definition;
    private readonly WorkflowDependencies _deps;
    private readonly ILoggingAdapter _log;
    private readonly CancellationTokenSource _stopping = new();
    private IDeliverySink? _sink;
    private IWorkflowTransform? _transform;
    private readonly DeliveryGate _gate;
    private readonly HashSet<(string Type, string Key)> _refusedKeys = [];

    public RedriveActor(WorkflowDefinition definition, WorkflowDependencies deps, ILoggingAdapter log)
    {
        _gate = DeliveryGates.Get(Context.System).For(definition.Id);
        _definition = definition;
        _deps = deps;
        _log = log;
        ReceiveAsync<Run>(RunAsync);
    }

    private string WorkflowId => _definition.Id;

    private async Task RunAsync(Run run)
    {
        var parent = Context.Parent;
        var results = new List<RedriveResult>();
        var stopReason = (string?)null;
        try
        {
            foreach (var id in run.Command.EntryIds)
            {
                if (stopReason is not null)
                {
                    results.Add(new RedriveResult(id, RedriveResult.Skipped, $"not tried: {stopReason}", null, []));
                    continue;
                }
                var (result, stop) = await GatedAsync(id, run.Command.Force);
                results.Add(result);
                stopReason = stop;
                _log.Info("Redrive of dead letter {EntryId} requested by {RequestedBy}: {Outcome} ({Detail})",
                    id, run.Command.RequestedBy, result.Outcome, result.Detail);
            }
            run.ReplyTo.Tell(new WorkflowReplies.Redriven(WorkflowId, results));
        }
        catch (Exception e)
        {
            // The store failed: what was done is recorded; the caller learns where it stopped.
            _log.Error(e, "Redrive failed after {Done} of {Count} dead letters", results.Count, run.Command.EntryIds.Count);
            run.ReplyTo.Tell(new WorkflowReplies.LifecycleRefused(WorkflowId,
                $"workflow '{WorkflowId}': the redrive failed after {results.Count} of {run.Command.EntryIds.Count} dead letter(s): {e.GetType().Name}: {e.Message}"));
        }
        finally
        {
            parent.Tell(new Done());
            Context.Stop(Self);
        }
    }

    /// <summary>One letter, while the stream's delivery of this workflow waits (see <see cref="DeliveryGates"/>).</summary>
    private async Task<(RedriveResult Result, string? Stop)> GatedAsync(long id, bool force)
    {
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        waiting.CancelAfter(_deps.Settings.RedriveTimeout);
        IDisposable held;
        try
        {
            held = await _gate.EnterAsync(waiting.Token);
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            var why = $"the workflow's stream kept delivering a batch for {_deps.Settings.RedriveTimeout.TotalSeconds:0}s (its endpoint is slow or failing)";
            return (Skip(id, "not tried: " + why), why);
        }
        using (held)
            return await RedriveOneAsync(id, force);
    }

    /// <returns>The result, and a reason to stop the redrive (the endpoint does not answer) or null.</returns>
    private async Task<(RedriveResult Result, string? Stop)> RedriveOneAsync(long id, bool force)
    {
        var letter = await _deps.DeadLetters.GetAsync(id, _stopping.Token);
        // Read now, not when the redrive was asked: the stream may have superseded it meanwhile.
        if (letter is null || letter.WorkflowId != WorkflowId)
            return (Skip(id, $"workflow '{WorkflowId}' has no dead letter {id}"), null);
        if (!force && letter.Redrive is { Outcome: DeadLetterStore.Delivered } done)
            return (Skip(id, $"already redriven with success at {done.At:yyyy-MM-dd HH:mm:ss}Z; --force sends it again"), null);
        if (!force && letter.Superseded is { } superseded)
            return (Skip(id, $"superseded by position {superseded.ByPosition}: a later change of the same row was delivered, " +
                             "so this would roll the client's data back; --force sends it anyway"), null);

        ChangeEvent change;
        List<DeliveryRecord> records;
        string? ranVersion = null;
        try
        {
            change = ChangeEventJson.Deserialize(letter.InputJson);
        }
        catch (FormatException e)
        {
            return (await FailAsync(letter, null, null, $"the stored input is not a change: {e.Message}"), null);
        }

        if (letter.Stage == "delivery")
        {
            if (RecordOf(letter, change) is not { } record)
                return (await FailAsync(letter, null, null, "the stored record is missing or malformed: it cannot be sent again"), null);
            records = [record];
            // Parked records of a key go in order: once one fails again, the later ones of its key wait.
            if (_definition.Delivery.OnRefused == DeliveryDefinition.ParkRefused && _refusedKeys.Contains((record.Record.Type, record.Record.Key)))
                return (Skip(id, $"not tried: an earlier record of key {record.Record.Type}/{record.Record.Key} was not delivered in this redrive, and a parked key's records go in order"), null);
        }
        else
        {
            _transform ??= _deps.Connectors.CreateTransform(_definition, new AkkaTransformLogger(_log));
            ranVersion = _transform.Version;
            var outcome = await _transform.RunAsync(change, _stopping.Token);
            if (outcome.Outputs is not { } outputs)
                return (await FailAsync(letter, ranVersion, null, $"transform {ranVersion} rejected it again: {outcome.Error}"), null);
            // Like any delivered record, it names the version that produced it: the one that ran now.
            records = outputs.Select((o, i) => new DeliveryRecord(
                IdempotencyKey.For(WorkflowId, change.Position, i), WorkflowId, change.Position, i,
                change.Table, change.Operation, change.CommitTime, o) { TransformVersion = ranVersion }).ToList();
        }

        var keys = records.Select(r => r.IdempotencyKey).ToList();
        if (records.Count > 0)
        {
            _sink ??= _deps.Connectors.CreateSink(_definition, NullDeliveryObserver.Instance);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_deps.Settings.RedriveTimeout);
            DeliveryResult result;
            try
            {
                result = await _sink.DeliverAsync(records, timeout.Token);
            }
            catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
            {
                var why = $"the endpoint did not accept it within {_deps.Settings.RedriveTimeout.TotalSeconds:0}s (transient errors retried)";
                return (await FailAsync(letter, ranVersion, null, why, keys), why);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                var why = $"the sink failed: {e.GetType().Name}: {e.Message}";
                return (await FailAsync(letter, ranVersion, null, why, keys), why);
            }
            if (result.Refused.Count > 0)
            {
                foreach (var r in result.Refused) _refusedKeys.Add((r.Record.Record.Type, r.Record.Record.Key));
                var first = result.Refused[0];
                var last = first.Attempts is { Count: > 0 } attempts ? attempts[^1] : null;
                var detail = records.Count == 1
                    ? $"refused again: {first.Reason}"
                    : $"{result.Refused.Count} of {records.Count} records refused again: {first.Reason}";
                return (await FailAsync(letter, ranVersion, last?.StatusCode ?? StatusOf(first.Reason), detail, keys), null);
            }
        }

        await _deps.DeadLetters.RecordRedriveAsync(letter.Id, DeadLetterStore.Delivered, ranVersion,
            new DeadLetterAttempt(DateTimeOffset.UtcNow, null,
                records.Count == 0 ? $"redrive: transform {ranVersion} made no record; nothing to send" : $"redrive: accepted ({records.Count} record(s))"),
            _stopping.Token);
        // What was just delivered is newer than any older open letter of the same row.
        if (records.Count > 0 && change.Key.Count > 0)
            await _deps.DeadLetters.MarkSupersededAsync(WorkflowId, change.Table, SupersedeTracker.KeyOf(change), change.Position.Value, _stopping.Token);
        var what = letter.Stage == "delivery"
            ? "delivered with its original idempotency key"
            : $"transform {ranVersion} made {records.Count} record(s){(records.Count > 0 ? ", delivered" : "")}";
        return (new RedriveResult(letter.Id, RedriveResult.Delivered, what, ranVersion, keys), null);
    }

    private static RedriveResult Skip(long id, string why) => new(id, RedriveResult.Skipped, why, null, []);

    private async Task<RedriveResult> FailAsync(DeadLetter letter, string? version, int? status, string detail, IReadOnlyList<string>? keys = null)
    {
        // A failed redrive adds an attempt: the letter is kept, with its whole history.
        await _deps.DeadLetters.RecordRedriveAsync(letter.Id, DeadLetterStore.Failed, version,
            new DeadLetterAttempt(DateTimeOffset.UtcNow, status, "redrive: " + detail), _stopping.Token);
        return new RedriveResult(letter.Id, RedriveResult.Failed, detail, version, keys ?? []);
    }

    /// <summary>The refused record as it was sent, from the letter's stored output, with its original key.</summary>
    private DeliveryRecord? RecordOf(DeadLetter letter, ChangeEvent change)
    {
        if (letter.OutputJson is null || letter.OutputIndex is not { } index) return null;
        try
        {
            if (JsonNode.Parse(letter.OutputJson) is not JsonObject o
                || o["type"]?.GetValue<string>() is not { } type || o["key"]?.GetValue<string>() is not { } key || o["data"] is not { } data)
                return null;
            // The stored record is the webhook's JSON of it: a delete says "deleted": true.
            var record = new OutputRecord(type, key, data.DeepClone()) { IsDelete = o["deleted"] is JsonValue deleted && deleted.GetValue<bool>() };
            // Sent as it was the first time: with the transform version that produced it (kept on the letter).
            return new DeliveryRecord(IdempotencyKey.For(WorkflowId, change.Position, index), WorkflowId, change.Position, index,
                change.Table, change.Operation, change.CommitTime, record) { TransformVersion = letter.TransformVersion };
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>The HTTP status in a sink's reason ("HTTP 400 Bad Request: ..."), when there is one.</summary>
    private static int? StatusOf(string reason) =>
        reason.StartsWith("HTTP ", StringComparison.Ordinal) && reason.Length >= 8 && int.TryParse(reason.AsSpan(5, 3), out var code) ? code : null;

    protected override void PostStop()
    {
        _stopping.Cancel();
        try
        {
            _sink?.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(10));
        }
        catch (Exception e)
        {
            _log.Warning(e, "Closing the redrive's sink connector failed");
        }
        _transform?.Dispose();
        _stopping.Dispose();
    }
}
