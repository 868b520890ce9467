using Akka.Actor;
using Akka.Event;
using RetailStreaming.Connectors;
using RetailStreaming.Definitions;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Workflows;

/// <summary>The operator's delete, replay and re-snapshot of a workflow.</summary>
public sealed partial class WorkflowActor
{
    /// <summary>The longest a capture removal, a replay reach query or a snapshot request may take.</summary>
    private static readonly TimeSpan SourceOperationTimeout = TimeSpan.FromSeconds(20);

    private bool RefuseWhenDeleted()
    {
        if (!_state.Deleted && _deleteRequesters.Count == 0) return false;
        Refuse(_state.Deleted
            ? $"it was deleted at {_state.DeletedAt:u}; its history and dead letters stay readable, but it does not run again"
            : "it is being deleted");
        return true;
    }

    /// <summary>After a drain or a failure: a pending delete or replay goes first. True when one took over.</summary>
    private bool ContinueDeleteOrReplay()
    {
        if (_deleteRequesters.Count > 0)
        {
            PersistDelete();
            return true;
        }
        if (_replayRequest is not null)
        {
            CheckReplayReach();
            return true;
        }
        return false;
    }

    // ---- delete --------------------------------------------------------------------------

    private void HandleDelete()
    {
        if (_state.Deleted)
        {
            if (_state.CaptureRemoved)
            {
                Sender.Tell(new WorkflowReplies.Deleted(_workflowId, false, _state.Checkpoint, true, "its capture was removed when it was deleted", null));
                return;
            }
            // Deleted, but its capture is still in the client database: try again.
            _deleteRequesters.Add(Sender);
            if (_deleteRequesters.Count == 1) RemoveCapture(changed: false);
            return;
        }
        if (_state.Current is null)
        {
            Refuse("it has no definition; there is nothing to delete");
            return;
        }
        if (_stopAfterDrain || _pendingSwitch is not null || _pauseRequesters.Count > 0 || _replayRequest is not null)
        {
            Refuse("it is switching definitions, pausing, starting a replay or stopping; delete it again when that is done");
            return;
        }
        _deleteRequesters.Add(Sender);
        if (_deleteRequesters.Count > 1) return; // already deleting: answered together
        _log.Info("Deleting: draining and checkpointing first");
        if (_running)
        {
            BeginDrain();
            SetRunState(WorkflowRunState.Deleting);
        }
        else
        {
            PersistDelete();
        }
    }

    /// <summary>Records the deletion at the delivered position (with the checkpoint), then removes the capture.</summary>
    private void PersistDelete()
    {
        Timers.Cancel("rebuild");
        var events = new List<object>();
        if (CheckpointDirty) events.Add(CheckpointEvent());
        events.Add(new WorkflowEvents.Deleted(_workflowId, _delivered.Value, DateTimeOffset.UtcNow));
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            if (e is not WorkflowEvents.Deleted) return;
            _unpersistedChanges = 0;
            _lastError = null;
            _lastErrorAt = null;
            SetRunState(WorkflowRunState.Deleted);
            _log.Info("Deleted at checkpoint {SourcePosition}; removing its capture from the client database", _state.Checkpoint);
            SaveSnapshotIfDue();
            RemoveCapture(changed: true);
        });
    }

    private void RemoveCapture(bool changed)
    {
        var (id, def, registry, connectors, log) = (_workflowId, _definition, _deps.Registry, _deps.Connectors, _log);
        if (def is null)
        {
            Self.Tell(new CaptureRemovalDone(changed, null,
                $"the recorded definition of workflow '{id}' no longer validates, so its capture cannot be identified; " +
                "remove its slot and publication (PostgreSQL) or its triggers and change table (SQLite) from the client database by hand"));
            return;
        }
        Task.Run(async () =>
        {
            // Off the workflow list first: it is deleted whatever happens to its capture.
            try
            {
                await registry.MarkDeletedAsync(id);
            }
            catch (Exception e)
            {
                log.Error(e, "Marking the workflow deleted in the platform store failed; the next delete tries again");
            }
            using var timeout = new CancellationTokenSource(SourceOperationTimeout);
            try
            {
                return new CaptureRemovalDone(changed, await connectors.RemoveCaptureAsync(def, timeout.Token), null);
            }
            catch (Exception e)
            {
                return new CaptureRemovalDone(changed, null, e is CaptureTeardownException
                    ? e.Message
                    : $"the capture of workflow '{id}' could not be removed: {e.GetType().Name}: {e.Message}; run 'rsctl workflow delete {id}' again");
            }
        }).PipeTo(Self);
    }

    private void HandleCaptureRemovalDone(CaptureRemovalDone done)
    {
        if (done.Error is not null)
        {
            // Reported, never swallowed: the slot would keep WAL on the client's disk.
            _lastError = done.Error;
            _lastErrorAt = DateTimeOffset.UtcNow;
            _log.Error("Deleted, but its capture could not be removed: {Error}", done.Error);
            AnswerDeleters(new WorkflowReplies.Deleted(_workflowId, done.Changed, _state.Checkpoint, false, null, done.Error));
            return;
        }
        Persist(new WorkflowEvents.CaptureRemoved(_workflowId, done.Detail!, DateTimeOffset.UtcNow), e =>
        {
            _state = _state.Apply(e);
            _lastError = null;
            _lastErrorAt = null;
            _log.Info("Capture removed: {Detail}", done.Detail);
            AnswerDeleters(new WorkflowReplies.Deleted(_workflowId, done.Changed, _state.Checkpoint, true, done.Detail, null));
            SaveSnapshotIfDue();
            Timers.StartSingleTimer("passivate", PassivateDeleted.Instance, DeletedIdle);
        });
    }

    private void AnswerDeleters(WorkflowReplies.Deleted reply)
    {
        foreach (var requester in _deleteRequesters) requester.Tell(reply);
        _deleteRequesters.Clear();
    }

    // ---- replay --------------------------------------------------------------------------

    private void HandleReplay(WorkflowCommands.Replay cmd)
    {
        if (RefuseWhenDeleted()) return;
        if (_definition is null)
        {
            Refuse(_state.Current is null ? "it has no definition; apply one first" : "its recorded definition no longer validates; apply a fixed one");
            return;
        }
        if (_state.Paused)
        {
            Refuse("it is paused; resume it, then replay");
            return;
        }
        if (_runState == WorkflowRunState.Quarantined)
        {
            Refuse("its transform is quarantined; restart it (rsctl workflow restart) or apply a fixed definition, then replay");
            return;
        }
        if (_state.ReplayUntil is not null)
        {
            Refuse($"it is already replaying (now at {_delivered}, until {_state.ReplayUntil}); replay again once that is over");
            return;
        }
        if (_replayRequest is not null || _stopAfterDrain || _pendingSwitch is not null || _pauseRequesters.Count > 0)
        {
            Refuse("it is switching definitions, pausing, starting a replay or stopping; replay again when that is done");
            return;
        }
        _replayRequest = new PendingReplay(cmd.From.Trim(), Sender);
        _log.Info("Replay after {From} requested: draining first", cmd.From);
        // Drained first, like a definition switch: nothing of the old stream is delivered after the rewind.
        if (_running)
        {
            BeginDrain();
        }
        else
        {
            Timers.Cancel("rebuild");
            CheckReplayReach();
        }
    }

    /// <summary>Asks the source, off the actor thread, how far back it still holds changes.</summary>
    private void CheckReplayReach()
    {
        IChangeSource source;
        try
        {
            source = _deps.Connectors.CreateSource(_definition!);
        }
        catch (Exception e)
        {
            Self.Tell(new ReplayReachKnown(null, e));
            return;
        }
        if (source is not IReplayableSource replayable)
        {
            source.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
            Self.Tell(new ReplayReachKnown(null, new NotSupportedException($"a source of kind '{_definition!.Source.Kind}' cannot replay")));
            return;
        }
        var checkpoint = _state.CheckpointPosition;
        Task.Run(async () =>
        {
            using var timeout = new CancellationTokenSource(SourceOperationTimeout);
            try
            {
                return new ReplayReachKnown(await replayable.GetReplayReachAsync(checkpoint, timeout.Token), null);
            }
            catch (Exception e)
            {
                return new ReplayReachKnown(null, e);
            }
            finally
            {
                await source.DisposeAsync();
            }
        }).PipeTo(Self);
    }

    private void HandleReplayReach(ReplayReachKnown known)
    {
        var request = _replayRequest;
        if (request is null) return;
        if (known.Reach is not { } reach)
        {
            AnswerReplay(null, $"the source could not tell how far back it holds changes: {known.Error?.Message}");
            return;
        }
        SourcePosition from;
        if (request.From.Equals("earliest", StringComparison.OrdinalIgnoreCase))
        {
            from = reach.Earliest;
        }
        else if (!IsPositionOfThisSource(request.From, reach.Earliest))
        {
            AnswerReplay(reach, $"'{request.From}' is not a position of this source; positions look like {(_delivered.IsStart ? reach.Earliest : _delivered)} " +
                                "(see rsctl workflow show and history), or use --from earliest");
            return;
        }
        else
        {
            from = new SourcePosition(request.From);
        }

        if (from >= _delivered)
        {
            AnswerReplay(reach, $"nothing to replay after {from}: the workflow has delivered up to {_delivered}");
            return;
        }
        if (from < reach.Earliest)
        {
            AnswerReplay(reach, $"the source no longer holds every change after {from}: {reach.Explanation}. " +
                                $"The earliest position a replay can start from is {reach.Earliest}");
            return;
        }
        if (TransformSwitchAfter(from) is { } switchProblem)
        {
            AnswerReplay(reach, switchProblem);
            return;
        }

        var until = _delivered;
        var events = new List<object>();
        if (CheckpointDirty) events.Add(CheckpointEvent());
        events.Add(new WorkflowEvents.ReplayRequested(_workflowId, from.Value, until.Value, DateTimeOffset.UtcNow));
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            if (e is not WorkflowEvents.ReplayRequested) return;
            _replayRequest = null;
            _unpersistedChanges = 0;
            _delivered = from;
            _replayFloorGeneration = _generation + 1;
            _lastError = null;
            _lastErrorAt = null;
            _log.Info("Replaying every change after {From} up to {Until}", from, until);
            request.ReplyTo.Tell(new WorkflowReplies.ReplayStarted(_workflowId, from.Value, until.Value, reach.Earliest.Value));
            SaveSnapshotIfDue();
            StartStream();
        });
    }

    /// <summary>Refuses the pending replay and goes on from where the workflow was.</summary>
    private void AnswerReplay(ReplayReach? reach, string refusal)
    {
        var request = _replayRequest!;
        _replayRequest = null;
        _log.Warning("Replay after {From} refused: {Reason}", request.From, refusal);
        request.ReplyTo.Tell(new WorkflowReplies.ReplayRefused(_workflowId, $"workflow '{_workflowId}': {refusal}", reach?.Earliest.Value));
        if (_runState != WorkflowRunState.Quarantined) StartStream();
    }

    /// <summary>Positions are fixed-width and prefixed by their connector: one of another shape is a typo.</summary>
    private bool IsPositionOfThisSource(string text, SourcePosition earliest)
    {
        var sample = !_delivered.IsStart ? _delivered : earliest;
        if (text == SourcePosition.Start.Value) return true;
        if (sample.IsStart) return false;
        var colon = sample.Value.IndexOf(':', StringComparison.Ordinal);
        return text.Length == sample.Value.Length && colon > 0 && text.StartsWith(sample.Value[..(colon + 1)], StringComparison.Ordinal);
    }

    /// <summary>
    /// A replay runs each change on the transform that first produced it (DESIGN.md, "Positions and
    /// checkpoints"; see <see cref="TransformSegmentsAfter"/>): it is refused only when one of those
    /// definitions no longer validates, so its transform cannot be created again.
    /// </summary>
    private string? TransformSwitchAfter(SourcePosition from)
    {
        TransformSegmentsAfter(from, _definition!, out var problem);
        return problem;
    }

    private static bool SameTransform(TransformDefinition a, TransformDefinition b) =>
        string.Equals(a.Package, b.Package, StringComparison.OrdinalIgnoreCase)
        && a.Version == b.Version
        && a.Type == b.Type
        && a.Settings.Count == b.Settings.Count
        && a.Settings.All(kv => b.Settings.TryGetValue(kv.Key, out var v) && v == kv.Value);

    // ---- re-snapshot ---------------------------------------------------------------------

    private void HandleSnapshot(WorkflowCommands.RequestSnapshot cmd)
    {
        if (RefuseWhenDeleted()) return;
        if (_definition is null)
        {
            Refuse(_state.Current is null ? "it has no definition; apply one first" : "its recorded definition no longer validates; apply a fixed one");
            return;
        }
        var (id, kind, replyTo) = (_workflowId, _definition.Source.Kind, Sender);
        IChangeSource source;
        try
        {
            source = _deps.Connectors.CreateSource(_definition);
        }
        catch (Exception e)
        {
            replyTo.Tell(new WorkflowReplies.ReplayRefused(id, $"workflow '{id}': its source cannot be opened: {e.Message}", null));
            return;
        }
        if (source is not ISnapshotSource snapshots)
        {
            source.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
            replyTo.Tell(new WorkflowReplies.ReplayRefused(id, $"workflow '{id}': a source of kind '{kind}' cannot re-snapshot", null));
            return;
        }
        var log = _log;
        // The request is durable in the client database (the change table, or the snapshot progress
        // table and a WAL marker): the running capture, or the next one, delivers the rows.
        Task.Run(async () =>
        {
            using var timeout = new CancellationTokenSource(SourceOperationTimeout);
            try
            {
                await source.PrepareAsync(timeout.Token);
                var tables = cmd.Table is null ? snapshots.CapturedTables.ToList() : [cmd.Table];
                var ids = new List<string>();
                foreach (var table in tables)
                    ids.Add(await snapshots.RequestSnapshotAsync(table, timeout.Token));
                log.Info("Re-snapshot of {Tables} requested ({SnapshotIds})", string.Join(", ", tables), string.Join(", ", ids));
                return (object)new WorkflowReplies.SnapshotRequested(id, tables, ids);
            }
            catch (Exception e)
            {
                // An unknown table: the connector's message names the captured ones.
                var reason = e is ArgumentException a
                    ? a.ParamName is null ? a.Message : a.Message.Replace($" (Parameter '{a.ParamName}')", "", StringComparison.Ordinal)
                    : $"the snapshot could not be requested: {e.Message}";
                return new WorkflowReplies.ReplayRefused(id, $"workflow '{id}': {reason}", null);
            }
            finally
            {
                await source.DisposeAsync();
            }
        }).PipeTo(replyTo);
    }
}
