using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using Akka.Streams;
using Akka.Streams.Dsl;
using RetailStreaming.Connectors;
using RetailStreaming.Definitions;
using RetailStreaming.Store;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Capture;
using RetailStreaming.Workflows.Delivery;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Redrive;
using RetailStreaming.Workflows.Transform;
using static RetailStreaming.Workflows.StreamProtocol;

namespace RetailStreaming.Workflows;

/// <summary>What a workflow actor needs from its node.</summary>
/// <param name="Connectors">Creates the source, the sink and the transform.</param>
/// <param name="DeadLetters">The platform's dead-letter store.</param>
/// <param name="Registry">The platform's workflow registry.</param>
/// <param name="Settings">Platform-wide workflow settings.</param>
/// <param name="NodeName">This node's address, shown in status.</param>
/// <param name="Telemetry">The node's metrics (none in tests that do not look at them).</param>
public sealed record WorkflowDependencies(
    IWorkflowConnectors Connectors,
    IDeadLetterStore DeadLetters,
    IWorkflowRegistry Registry,
    WorkflowSettings Settings,
    string NodeName,
    RetailStreaming.Workflows.Observability.WorkflowTelemetry? Telemetry = null);

/// <summary>
/// One client workflow: a sharded, persistent actor (entity id = workflow id) whose journal holds
/// its definition versions and its checkpoints. After recovery it creates its capture, transform
/// and delivery children and joins them with a backpressured stream; when anything in that graph
/// fails, the whole graph is torn down and rebuilt from the checkpoint after a backoff. A failure
/// stays inside this workflow: it never stops, slows or restarts another.
/// </summary>
public sealed partial class WorkflowActor : ReceivePersistentActor, IWithTimers
{
    private sealed record PersistCheckpointTick
    {
        public static PersistCheckpointTick Instance { get; } = new();
    }
    private sealed record Rebuild(int AfterGeneration);

    // An ask's timeout must stay within what a timer takes (about 24 days).
    private static readonly TimeSpan MaxTransformAsk = TimeSpan.FromDays(1);
    private sealed record DrainTimedOut(int Generation);
    private sealed record QuarantineSettled(int Generation);
    private sealed record PendingSwitch(WorkflowDefinition Definition, string FileName, IActorRef ReplyTo);
    private sealed record PendingReplay(string From, IActorRef ReplyTo);
    private sealed record ReplayReachKnown(ReplayReach? Reach, Exception? Error);
    private sealed record CaptureRemovalDone(bool Changed, string? Detail, string? Error);
    private sealed record PassivateDeleted
    {
        public static PassivateDeleted Instance { get; } = new();
    }

    /// <summary>How long a deleted workflow's entity stays up after answering, before it passivates (and is no longer remembered).</summary>
    private static readonly TimeSpan DeletedIdle = TimeSpan.FromSeconds(30);

    private readonly string _workflowId;
    private readonly WorkflowDependencies _deps;
    private string _nodeName = "";
    private ILoggingAdapter _log;
    private WorkflowState _state;
    private WorkflowDefinition? _definition;
    private ActorMaterializer? _materializer;

    // The running graph (one generation at a time).
    private int _generation;
    private bool _running;
    private bool _draining;
    /// <summary>The position of a change that overran its budget, while the records before it are still being delivered.</summary>
    private SourcePosition? _quarantineAt;
    private UniqueKillSwitch? _killSwitch;
    private CancellationTokenSource? _generationCancel;
    private IActorRef? _capture;
    private IActorRef? _transform;
    private IActorRef? _delivery;
    private Exception? _lastChildFailure;

    // What is delivered but maybe not yet persisted.
    private SourcePosition _delivered;
    private long _deliveredChanges;
    private long _deliveredRecords;
    private long _deadLetters;
    private int _unpersistedChanges;
    private bool _persistingCheckpoint;

    // Figures for status.
    private string _runState = WorkflowRunState.Starting;
    private string? _lastError;
    private DateTimeOffset? _lastErrorAt;
    private long _captured;
    private long _inFlight;
    private long _maxInFlight;
    private long _retries;
    private int _restarts;
    private int _consecutiveFailures;
    private SourceLagReport? _lag;
    private double? _lastLatencyMs;
    private DateTimeOffset? _lastDeliveryAt;
    private DeliveryEndpointStatus? _endpoint;

    // What to do once a drain is over.
    private bool _stopAfterDrain;
    private PendingSwitch? _pendingSwitch;
    private readonly List<IActorRef> _pauseRequesters = [];
    private readonly List<IActorRef> _deleteRequesters = [];
    private PendingReplay? _replayRequest;
    // Batches of generations before a replay's stream were delivered before the replay rewound the position.
    private int _replayFloorGeneration;

    // The redrive running (a child), if any.
    private IActorRef? _redrive;
    private int _redrives;

    /// <summary>Props for a workflow entity.</summary>
    public static Props Props(string workflowId, WorkflowDependencies deps) =>
        Akka.Actor.Props.Create(() => new WorkflowActor(workflowId, deps));

    /// <summary>Creates the actor for <paramref name="workflowId"/>.</summary>
    public WorkflowActor(string workflowId, WorkflowDependencies deps)
    {
        _workflowId = workflowId;
        _deps = deps;
        _state = WorkflowState.Empty(workflowId);
        _delivered = SourcePosition.Start;
        _log = Context.GetLogger().WithContext("WorkflowId", workflowId);

        Recover<SnapshotOffer>(offer =>
        {
            if (offer.Snapshot is WorkflowState s) _state = s;
        });
        Recover<WorkflowEvents.DefinitionApplied>(e => _state = _state.Apply(e));
        Recover<WorkflowEvents.CheckpointAdvanced>(e => _state = _state.Apply(e));
        Recover<WorkflowEvents.Paused>(e => _state = _state.Apply(e));
        Recover<WorkflowEvents.Resumed>(e => _state = _state.Apply(e));
        Recover<WorkflowEvents.Deleted>(e => _state = _state.Apply(e));
        Recover<WorkflowEvents.CaptureRemoved>(e => _state = _state.Apply(e));
        Recover<WorkflowEvents.ReplayRequested>(e => _state = _state.Apply(e));
        Recover<WorkflowEvents.TransformRolledBack>(e => _state = _state.Apply(e));

        Command<WorkflowCommands.ApplyDefinition>(HandleApply);
        Command<WorkflowCommands.GetStatus>(_ => Sender.Tell(WithSignals(Status())));
        Command<WorkflowCommands.HandOff>(_ => HandleHandOff());
        Command<WorkflowCommands.Pause>(_ => HandlePause());
        Command<WorkflowCommands.Resume>(_ => HandleResume());
        Command<WorkflowCommands.Restart>(_ => HandleRestart());
        Command<WorkflowCommands.Rollback>(HandleRollback);
        Command<WorkflowCommands.GetHistory>(_ =>
            Sender.Tell(new WorkflowReplies.History(_workflowId, _state.Definitions, _state.Paused, _state.AutoRollbacks ?? [])));
        Command<WorkflowCommands.Redrive>(HandleRedrive);
        Command<RedriveActor.Done>(_ =>
        {
            if (!Sender.Equals(_redrive)) return;
            Context.Unwatch(_redrive);
            _redrive = null;
        });
        Command<WorkflowCommands.Delete>(_ => HandleDelete());
        Command<CaptureRemovalDone>(HandleCaptureRemovalDone);
        Command<PassivateDeleted>(_ => Context.Parent.Tell(new Akka.Cluster.Sharding.Passivate(WorkflowCommands.HandOff.Instance)));
        Command<WorkflowCommands.Replay>(HandleReplay);
        Command<ReplayReachKnown>(HandleReplayReach);
        Command<WorkflowCommands.RequestSnapshot>(HandleSnapshot);
        HandleShadowCommands();

        // A drain that began before the capture was ready keeps showing that it drains.
        Command<CaptureStarted>(m => { if (Current(m.Generation) && !_draining) SetRunState(WorkflowRunState.Running); });
        Command<Captured>(m =>
        {
            if (!Current(m.Generation)) return;
            _captured += m.Count;
            Observation.RecordTrails.Get(Context.System).NoteCaptured(_workflowId, m.Last);
            _inFlight += m.Count;
            _maxInFlight = Math.Max(_maxInFlight, _inFlight);
            SignalCaptured(m.Count);
        });
        Command<SourceLagReport>(m => { if (Current(m.Generation)) { _lag = m; NotePending(); SignalLag(m); } });
        Command<BatchDone>(HandleBatchDone);
        Command<DeliveryRetrying>(m =>
        {
            if (!Current(m.Generation)) return;
            _retries++;
            SignalRetry(m);
            _lastError = $"delivery retrying (attempt {m.Attempt}, next in {m.Delay.TotalSeconds:0.#}s): {m.Reason}";
            _lastErrorAt = DateTimeOffset.UtcNow;
            Observation.RecordTrails.Get(Context.System).NoteRetry(_workflowId, _lastErrorAt.Value, m.Reason);
        });
        Command<DeliveryDrained>(m => { if (Current(m.Generation)) OnDrained(); });
        Command<DeliveryEndpointChanged>(m =>
        {
            if (!Current(m.Generation)) return;
            var h = m.Health;
            _endpoint = new DeliveryEndpointStatus(h.Endpoint, h.Circuit, h.ConsecutiveFailures, h.OpenUntil, h.RateLimitPerSecond, h.PausedUntil, h.ChangedAt);
            SignalEndpoint(h.Circuit);
        });
        Command<StreamFailed>(m => { if (Current(m.Generation)) Fail("the workflow stream failed", m.Cause); });
        Command<TransformQuarantined>(m => { if (Current(m.Generation)) Quarantine(m.Reason, m.At); });
        Command<QuarantineSettled>(m => { if (m.Generation == _generation && _quarantineAt is not null) FinishQuarantine(); });
        Command<TransformOutcomes>(m =>
        {
            if (!Current(m.Generation)) return;
            WatchForAutoRollback(m);
            HandToShadow(m);
            OfferSamples(m);
        });
        Command<Terminated>(t =>
        {
            if (t.ActorRef.Equals(_redrive)) { _redrive = null; return; } // it stopped without saying it was done
            if (!_running || !(t.ActorRef.Equals(_capture) || t.ActorRef.Equals(_transform) || t.ActorRef.Equals(_delivery))) return;
            var who = t.ActorRef.Path.Name;
            Fail($"child {who} stopped", _lastChildFailure ?? new InvalidOperationException($"{who} stopped unexpectedly"));
        });
        Command<Rebuild>(r => { if (r.AfterGeneration == _generation && !_running && !_state.Paused) StartStream(); });
        Command<DrainTimedOut>(m =>
        {
            if (!_draining || m.Generation != _generation) return;
            _log.Warning("Drain did not finish within {Timeout}; aborting the stream", _deps.Settings.DrainTimeout);
            OnDrained();
        });
        Command<PersistCheckpointTick>(_ => { PersistCheckpoint(); SignalCheckpoint(); });
        StartSignals();
        Command<SaveSnapshotSuccess>(_ => { });
        Command<SaveSnapshotFailure>(f => _log.Warning(f.Cause, "Saving a snapshot failed"));
    }

    /// <inheritdoc />
    public override string PersistenceId => "workflow-" + _workflowId;

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Children are stopped, never restarted in place: the workflow rebuilds the whole graph.</summary>
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(ex =>
        {
            // The first failure of a generation is the cause; the others are its aftermath
            // (the capture failing because the stream it offers to is gone).
            _lastChildFailure ??= ex;
            return Directive.Stop;
        });

    /// <inheritdoc />
    protected override void PreStart()
    {
        var address = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress;
        _nodeName = address.HasGlobalScope ? $"{address.Host}:{address.Port}" : _deps.NodeName;
        _materializer = Context.Materializer(namePrefix: "wf");
        base.PreStart();
    }

    /// <inheritdoc />
    protected override void OnReplaySuccess()
    {
        _delivered = _state.CheckpointPosition;
        _deliveredChanges = _state.DeliveredChanges;
        _deliveredRecords = _state.DeliveredRecords;
        _deadLetters = _state.DeadLetters;
        Timers.StartPeriodicTimer("checkpoint", PersistCheckpointTick.Instance, _deps.Settings.CheckpointInterval);
        if (_state.Deleted)
        {
            // A deleted workflow never runs again, whatever starts its entity (remember-entities, a
            // query); it answers, then passivates, which also drops it from the remembered entities.
            WorkflowDefinitionReader.TryParse(_state.Current!.Yaml, _state.Current.FileName, out _definition, out _);
            SetRunState(WorkflowRunState.Deleted);
            Timers.StartSingleTimer("passivate", PassivateDeleted.Instance, DeletedIdle);
            return;
        }
        if (_state.Current is null)
        {
            SetRunState(WorkflowRunState.Idle);
            return;
        }

        try
        {
            _definition = WorkflowDefinitionReader.Parse(_state.Current.Yaml, _state.Current.FileName);
            UpdateLogContext();
        }
        catch (InvalidDefinitionException e)
        {
            // A definition that a newer validator refuses stays visible instead of crashing recovery.
            RecordError($"the recorded definition v{_state.Current.Version} no longer validates", e);
            SetRunState(WorkflowRunState.Quarantined);
            return;
        }
        _log.Info("Recovered definition v{Version} and checkpoint {SourcePosition}", _state.Current.Version, _state.Checkpoint);
        // Heals a registration that failed when the definition was applied (idempotent).
        RegisterThen(_definition.Client, () => { });
        if (FinishRecordedAutoRollback()) return;
        StartStream();
    }

    /// <inheritdoc />
    protected override void OnRecoveryFailure(Exception reason, object? message = null)
    {
        _log.Error(reason, "Recovery failed");
        base.OnRecoveryFailure(reason, message);
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _killSwitch?.Abort(new OperationCanceledException("workflow stopped"));
        _generationCancel?.Cancel();
        _materializer?.Dispose();
        StopSignals();
        base.PostStop();
    }

    private bool Current(int generation) => _running && generation == _generation;

    // ---- definitions ---------------------------------------------------------------------

    private void HandleApply(WorkflowCommands.ApplyDefinition cmd)
    {
        WorkflowDefinition def;
        try
        {
            def = WorkflowDefinitionReader.Parse(cmd.Yaml, cmd.FileName);
        }
        catch (InvalidDefinitionException e)
        {
            Sender.Tell(new WorkflowReplies.DefinitionRejected(_workflowId, e.Errors.Select(x => x.ToString()).ToList()));
            return;
        }

        var problems = new List<string>();
        if (def.Id != _workflowId)
            problems.Add($"{cmd.FileName}: id: the definition is for '{def.Id}', not for workflow '{_workflowId}'");
        if (_state.Current is { } current && current.ClientId != def.Client)
            problems.Add($"{cmd.FileName}: client: workflow '{_workflowId}' belongs to client '{current.ClientId}'; a workflow cannot change client");
        if (_pendingSwitch is not null || (_draining && _stopAfterDrain) || _pauseRequesters.Count > 0)
            problems.Add($"{cmd.FileName}: workflow '{_workflowId}' is switching definitions, pausing or stopping; apply again when it is done");
        if (_state.Deleted)
            problems.Add($"{cmd.FileName}: id: workflow '{_workflowId}' was deleted at {_state.DeletedAt:u}; its history stays under this id, " +
                         "so the id cannot be used again: apply the definition under a new id");
        else if (_deleteRequesters.Count > 0 || _replayRequest is not null)
            problems.Add($"{cmd.FileName}: workflow '{_workflowId}' is being deleted or starting a replay; apply again when it is done");
        else if (_state.ReplayUntil is not null)
            problems.Add($"{cmd.FileName}: workflow '{_workflowId}' is replaying (now at {_delivered}, until {_state.ReplayUntil}) with the transform " +
                         "that produced those changes; apply again once the replay is over (rsctl workflow show)");
        if (problems.Count > 0)
        {
            Sender.Tell(new WorkflowReplies.DefinitionRejected(_workflowId, problems));
            return;
        }

        if (_state.Current is { } same && same.Yaml == def.Text && _runState != WorkflowRunState.Quarantined)
        {
            Sender.Tell(new WorkflowReplies.DefinitionUnchanged(_workflowId, same.Version));
            return;
        }

        _pendingSwitch = new PendingSwitch(def, cmd.FileName, Sender);
        if (_running) BeginDrain();
        else SwitchDefinition();
    }

    private void SwitchDefinition()
    {
        var (def, fileName, replyTo) = _pendingSwitch!;
        _pendingSwitch = null;
        // The switch is recorded at the delivered position: every change up to it was produced by
        // the previous version, so a replay never runs a change through a version that did not
        // produce it the first time (DESIGN.md, "Positions and checkpoints").
        var applied = new WorkflowEvents.DefinitionApplied(
            _workflowId, (_state.Current?.Version ?? 0) + 1, def.Client, def.Text, fileName,
            _delivered.Value, DateTimeOffset.UtcNow);
        var checkpoint = CheckpointEvent();
        PersistAll(new object[] { checkpoint, applied }, e =>
        {
            _state = _state.Apply(e);
            if (e is not WorkflowEvents.DefinitionApplied d) return;
            _unpersistedChanges = 0;
            _definition = def;
            UpdateLogContext();
            _lastError = null;
            _lastErrorAt = null;
            _consecutiveFailures = 0;
            _log.Info("Applied definition v{Version} (transform {Package} {TransformVersion})", d.Version, def.Transform.Package, def.Transform.Version);
            // Answer once the registry lists the workflow, so that a query right after the apply finds it.
            RegisterThen(def.Client, () => replyTo.Tell(new WorkflowReplies.DefinitionApplied(_workflowId, d.Version)));
            SaveSnapshotIfDue();
            StartStream();
        });
    }

    private void RegisterThen(string clientId, Action then)
    {
        var log = _log;
        _deps.Registry.RegisterAsync(_workflowId, clientId).ContinueWith(t =>
        {
            if (t.IsFaulted) log.Error(t.Exception, "Registering the workflow in the platform store failed; it will be retried at its next start");
            then(); // runs off the actor thread: it only sends a message
        });
    }

    private void UpdateLogContext()
    {
        _log = Context.GetLogger()
            .WithContext("WorkflowId", _workflowId)
            .WithContext("ClientId", _definition?.Client ?? "")
            .WithContext("TransformVersion", _definition?.Transform.Version ?? "");
    }

    // ---- the stream ----------------------------------------------------------------------

    private void StartStream()
    {
        if (_definition is null || _running) return;
        // A paused workflow stays idle (after a recovery or a definition switch too) until resumed.
        if (_state.Paused)
        {
            SetRunState(WorkflowRunState.Paused);
            return;
        }
        var def = _definition;
        var gen = ++_generation;
        _lastChildFailure = null;
        _inFlight = 0;
        SetRunState(WorkflowRunState.Starting);

        IChangeSource? source = null;
        IDeliverySink? sink = null;
        IWorkflowTransform? transform = null;
        try
        {
            source = _deps.Connectors.CreateSource(def);
            sink = _deps.Connectors.CreateSink(def, new DeliveryObserver(Self, gen));
            transform = CreateStreamTransform(def);
        }
        catch (Exception e)
        {
            source?.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
            sink?.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
            transform?.Dispose();
            _running = true; // so that Fail tears down and schedules the retry
            Fail("the workflow could not be started", e);
            return;
        }

        // Cancelled on tear-down, so that a child awaiting its connector (a delivery retrying an
        // endpoint that is down) lets go at once instead of holding the old generation alive.
        _generationCancel = new CancellationTokenSource();
        var cancel = _generationCancel.Token;
        var signals = NewStreamSignals(def);
        _capture = Context.ActorOf(Akka.Actor.Props.Create(() => new CaptureActor(
            source, gen, def.Source.BatchSize, def.Source.PollInterval, _deps.Settings.LagInterval, Self, _log, cancel, signals)), $"capture-{gen}");
        _transform = Context.ActorOf(Akka.Actor.Props.Create(() => new TransformActor(
            transform, _deps.DeadLetters, _workflowId, def.Client, gen, Self, _log, cancel)), $"transform-{gen}");
        _delivery = Context.ActorOf(Akka.Actor.Props.Create(() => new DeliveryActor(
            sink, _deps.DeadLetters, _workflowId, def.Client, gen, Self, _log, cancel,
            def.Delivery.Parallelism, def.Delivery.OnRefused, def.Delivery.Batching.MaxRecords, signals)), $"delivery-{gen}");
        Context.Watch(_capture);
        Context.Watch(_transform);
        Context.Watch(_delivery);

        var transformRef = _transform;
        var budget = transform is ReplayTransform replaying ? replaying.LongestBudget : def.Transform.TimeBudget;
        var slack = _deps.Settings.TransformAskSlack;
        var batching = def.Delivery.Batching;
        // Elements up to the transform are the capture's reads (chunks of at most source.batchSize
        // changes, in source order): one offer and one ask per read, not per change.
        var (queue, killSwitch) = Source.Queue<IReadOnlyList<ChangeEvent>>(QueueChunks(def), OverflowStrategy.Backpressure)
            .ViaMaterialized(KillSwitches.Single<IReadOnlyList<ChangeEvent>>(), Keep.Both)
            // One chunk at a time, so answers keep source order. Each change has its own budget,
            // which the transform host enforces; this timeout is only a safety net for the whole chunk.
            .SelectAsync(1, chunk => TransformTraced(signals, chunk, () => transformRef.Ask<TransformedBatch>(new TransformBatch(chunk),
                TimeSpan.FromTicks(Math.Min(budget.Ticks * chunk.Count, MaxTransformAsk.Ticks)) + slack)))
            .SelectMany(transformed => transformed.Changes)
            // A batch holds at most MaxRecords records per delivery lane (the lanes split it by key,
            // and each request takes at most MaxRecords: under load every lane gets a full request
            // from one batch); a change that gives none still weighs one, so that its position
            // reaches the checkpoint. A partial batch leaves after MaxWait at most: a change at a
            // low rate waits for no other timer.
            .GroupedWeightedWithin(DeliveryBatchRecords(def), DeliveryBatchRecords(def), batching.MaxWait, t => Math.Max(1, t.Outputs.Count))
            .Select(IReadOnlyList<TransformedChange> (batch) => batch.ToList())
            .To(Sink.ActorRefWithAck<IReadOnlyList<TransformedChange>>(
                    _delivery, new StreamInit(), Ack.Instance, new StreamCompleted(gen), ex => new StreamFailed(gen, ex))
                .WithAttributes(Attributes.CreateInputBuffer(1, 1)))
            .Run(_materializer!);

        _killSwitch = killSwitch;
        _running = true;
        _capture.Tell(new StartCapture(queue, _delivered));
        if (!_state.CheckpointPosition.IsStart)
            _capture.Tell(new ConfirmCheckpoint(_state.CheckpointPosition));
        _log.Info("Stream {Generation} started from {SourcePosition} (in-flight bound {Bound})", gen, _delivered, InFlightBound(def));
    }

    /// <summary>
    /// The capture → transform queue holds whole reads: as many as fit in <see cref="WorkflowSettings.QueueSize"/>
    /// changes, at least one.
    /// </summary>
    private int QueueChunks(WorkflowDefinition def) => Math.Max(1, _deps.Settings.QueueSize / def.Source.BatchSize);

    /// <summary>
    /// The most changes that can be read but not yet done: the capture's read being offered, the
    /// queue's reads, the read in the transform stage and the one being split into single changes
    /// (each at most source.batchSize), then the batch being formed, the one in the sink's buffer
    /// and the ones being delivered (one per delivery lane).
    /// </summary>
    private long InFlightBound(WorkflowDefinition def) =>
        (long)def.Source.BatchSize * (QueueChunks(def) + 3) + (2L + def.Delivery.Parallelism) * DeliveryBatchRecords(def);

    /// <summary>The most records in one batch to the delivery actor: a full request for each of its lanes.</summary>
    private static int DeliveryBatchRecords(WorkflowDefinition def) =>
        def.Delivery.Batching.MaxRecords * Math.Max(1, def.Delivery.Parallelism);

    private void HandleBatchDone(BatchDone m)
    {
        if (m.Generation < _replayFloorGeneration) return;
        if (m.Generation == _generation && _running)
        {
            _inFlight = Math.Max(0, _inFlight - m.Changes);
            _consecutiveFailures = 0;
            if (_runState == WorkflowRunState.Running && _lastError is not null && _lastError.StartsWith("delivery retrying", StringComparison.Ordinal))
                _lastError = null;
        }
        // A batch the endpoint accepted is a fact even if its generation was torn down since.
        // Batches finish in position order, so one that ends at or below the delivered position
        // was counted already (a replay after a rebuild).
        if (m.Last <= _delivered) return;
        _delivered = m.Last;
        _deliveredChanges += m.Changes;
        _deliveredRecords += m.Records;
        _deadLetters += m.DeadLettered;
        _unpersistedChanges += m.Changes;
        _lastDeliveryAt = DateTimeOffset.UtcNow;
        _lastLatencyMs = (DateTimeOffset.UtcNow - m.LastCommitTime).TotalMilliseconds;
        SignalDelivered(m);
        if (_unpersistedChanges >= _deps.Settings.CheckpointEveryChanges)
            PersistCheckpoint();
        if (_quarantineAt is { } overrun && _delivered >= overrun)
            FinishQuarantine();
    }

    private void BeginDrain()
    {
        if (!_running || _draining) return;
        _draining = true;
        SetRunState(WorkflowRunState.Draining);
        _capture?.Tell(new StopCapture());
        Timers.StartSingleTimer("drain", new DrainTimedOut(_generation), _deps.Settings.DrainTimeout);
    }

    private void OnDrained()
    {
        if (_quarantineAt is not null && !_draining)
        {
            // The stream behind a quarantined transform ran dry: the quarantine is complete.
            FinishQuarantine();
            return;
        }
        Timers.Cancel("drain");
        _draining = false;
        TearDown(null);
        if (ContinueDeleteOrReplay()) return;
        if (_pauseRequesters.Count > 0)
        {
            PersistPause();
            return;
        }
        if (_stopAfterDrain)
        {
            PersistCheckpointThen(() => Context.Stop(Self));
            return;
        }
        if (_pendingSwitch is not null)
        {
            SwitchDefinition();
            return;
        }
        StartStream();
    }

    private void TearDown(Exception? cause)
    {
        _running = false;
        // A drain ends with its stream, however it ended: a later hand-off must be able to drain again.
        _draining = false;
        Timers.Cancel("drain");
        _quarantineAt = null;
        Timers.Cancel("quarantine");
        _killSwitch?.Abort(cause ?? new OperationCanceledException("the workflow stream was stopped"));
        _killSwitch = null;
        _generationCancel?.Cancel();
        _generationCancel?.Dispose();
        _generationCancel = null;
        foreach (var child in new[] { _capture, _transform, _delivery })
        {
            if (child is null) continue;
            Context.Unwatch(child);
            Context.Stop(child);
        }
        _capture = _transform = _delivery = null;
        _inFlight = 0;
    }

    private void Fail(string what, Exception cause)
    {
        if (!_running) return;
        if (_quarantineAt is not null)
        {
            // The stream behind a quarantined transform ends here; it is not rebuilt.
            RecordError(what, cause);
            FinishQuarantine();
            return;
        }
        TearDown(cause);
        RecordError(what, cause);
        if (ContinueDeleteOrReplay()) return;
        if (_pauseRequesters.Count > 0)
        {
            PersistPause();
            return;
        }
        if (_stopAfterDrain)
        {
            PersistCheckpointThen(() => Context.Stop(Self));
            return;
        }
        if (_pendingSwitch is not null)
        {
            SwitchDefinition();
            return;
        }
        _restarts++;
        SignalRestart();
        var delay = Backoff(_consecutiveFailures++);
        SetRunState(WorkflowRunState.Restarting);
        _log.Warning(cause, "{What}; rebuilding the stream from {SourcePosition} in {Delay}", what, _delivered, delay);
        Timers.StartSingleTimer("rebuild", new Rebuild(_generation), delay);
    }

    private void Quarantine(string reason, SourcePosition at)
    {
        RecordError("transform quarantined: it overran its time budget, and .NET cannot abort it; apply a fixed definition to resume", new TimeoutException(reason));
        SetRunState(WorkflowRunState.Quarantined);
        _log.Error("Transform quarantined: {Reason}", reason);
        if (_delivered >= at)
        {
            FinishQuarantine();
            return;
        }
        // The changes before the overrun were transformed and are on their way: let their records
        // reach the endpoint and the checkpoint before the stream is torn down. Otherwise records
        // the endpoint accepted could go unacknowledged, and a fixed version applied next would
        // start below them and produce them again under the same idempotency keys. Nothing more
        // is read; the settling ends when the overrun position is delivered or after the drain
        // timeout, whichever comes first.
        _quarantineAt = at;
        _capture?.Tell(new StopCapture());
        Timers.StartSingleTimer("quarantine", new QuarantineSettled(_generation), _deps.Settings.DrainTimeout);
    }

    private void FinishQuarantine()
    {
        _quarantineAt = null;
        Timers.Cancel("quarantine");
        if (_draining)
        {
            // An operator's switch, pause or delete waits on this drain: it goes on from here.
            OnDrained();
            return;
        }
        TearDown(new OperationCanceledException("quarantined"));
        PersistCheckpoint();
        if (_deleteRequesters.Count > 0) PersistDelete();
        else if (_replayRequest is not null) AnswerReplay(null, "its transform was quarantined while the replay was being prepared; restart it, then replay");
        if (_pauseRequesters.Count > 0) PersistPause();
    }

    private TimeSpan Backoff(int failures)
    {
        var min = _deps.Settings.RestartMinBackoff.TotalMilliseconds;
        var max = _deps.Settings.RestartMaxBackoff.TotalMilliseconds;
        var exp = Math.Min(max, min * Math.Pow(2, Math.Min(failures, 20)));
        // Jitter, so that many workflows failing together do not retry in lockstep.
        return TimeSpan.FromMilliseconds(exp * (0.8 + Random.Shared.NextDouble() * 0.4));
    }

    private void HandleHandOff()
    {
        _log.Info("Hand-off: draining and checkpointing before stopping");
        _stopAfterDrain = true;
        if (_running) BeginDrain();
        else PersistCheckpointThen(() => Context.Stop(Self));
    }

    // ---- lifecycle (operator commands) ---------------------------------------------------

    private void HandlePause()
    {
        if (RefuseWhenDeleted()) return;
        if (_state.Current is null)
        {
            Refuse("it has no definition; apply one first");
            return;
        }
        if (_state.Paused)
        {
            Sender.Tell(new WorkflowReplies.Paused(_workflowId, _state.Checkpoint, false));
            return;
        }
        if (_stopAfterDrain || _pendingSwitch is not null)
        {
            Refuse("it is switching definitions or stopping; pause it again when that is done");
            return;
        }
        _pauseRequesters.Add(Sender);
        if (_pauseRequesters.Count > 1) return; // already pausing: answered together
        _log.Info("Pausing: draining and checkpointing");
        if (_running)
        {
            // Like a definition switch: stop capturing and let what was read reach the endpoint,
            // so that nothing is delivered after the pause is answered.
            BeginDrain();
            SetRunState(WorkflowRunState.Pausing);
        }
        else
        {
            PersistPause();
        }
    }

    /// <summary>Records the pause at the delivered position (with the checkpoint), then answers every requester.</summary>
    private void PersistPause()
    {
        Timers.Cancel("rebuild");
        var events = new List<object>();
        if (CheckpointDirty) events.Add(CheckpointEvent());
        events.Add(new WorkflowEvents.Paused(_workflowId, _delivered.Value, DateTimeOffset.UtcNow));
        PersistAll(events, e =>
        {
            _state = _state.Apply(e);
            if (e is not WorkflowEvents.Paused) return;
            _unpersistedChanges = 0;
            SetRunState(WorkflowRunState.Paused);
            _log.Info("Paused at checkpoint {SourcePosition}", _state.Checkpoint);
            foreach (var requester in _pauseRequesters)
                requester.Tell(new WorkflowReplies.Paused(_workflowId, _state.Checkpoint, true));
            _pauseRequesters.Clear();
            SaveSnapshotIfDue();
            if (_stopAfterDrain) Context.Stop(Self);
        });
    }

    private void HandleResume()
    {
        if (RefuseWhenDeleted()) return;
        if (_state.Current is null)
        {
            Refuse("it has no definition; apply one first");
            return;
        }
        if (_pauseRequesters.Count > 0)
        {
            Refuse("it is being paused; resume it once the pause is answered");
            return;
        }
        if (!_state.Paused)
        {
            Sender.Tell(new WorkflowReplies.Resumed(_workflowId, _delivered.Value, false));
            return;
        }
        var replyTo = Sender;
        Persist(new WorkflowEvents.Resumed(_workflowId, DateTimeOffset.UtcNow), e =>
        {
            _state = _state.Apply(e);
            _consecutiveFailures = 0;
            _log.Info("Resumed from checkpoint {SourcePosition}", _state.Checkpoint);
            replyTo.Tell(new WorkflowReplies.Resumed(_workflowId, _delivered.Value, true));
            SaveSnapshotIfDue();
            if (_definition is null) SetRunState(WorkflowRunState.Quarantined); // its recorded definition no longer validates
            else StartStream();
        });
    }

    private void HandleRestart()
    {
        if (RefuseWhenDeleted()) return;
        if (_definition is null)
        {
            Refuse(_state.Current is null
                ? "it has no definition; apply one first"
                : "its recorded definition no longer validates; apply a fixed one");
            return;
        }
        if (_state.Paused)
        {
            Refuse("it is paused; resume it instead");
            return;
        }
        if (_pauseRequesters.Count > 0 || _pendingSwitch is not null || _stopAfterDrain)
        {
            Refuse("it is pausing, switching definitions or stopping; restart it when that is done");
            return;
        }
        _log.Info("Restart requested: rebuilding the stream from {SourcePosition} now", _delivered);
        if (_running) TearDown(new OperationCanceledException("restarted by an operator"));
        // An operator's restart skips the backoff and lifts a quarantine.
        Timers.Cancel("rebuild");
        _consecutiveFailures = 0;
        _lastError = null;
        _lastErrorAt = null;
        StartStream();
        Sender.Tell(new WorkflowReplies.Restarted(_workflowId, _delivered.Value));
    }

    private void HandleRollback(WorkflowCommands.Rollback cmd)
    {
        var target = _state.Definitions.FirstOrDefault(d => d.Version == cmd.ToVersion);
        if (target is null)
        {
            var known = _state.Definitions.IsEmpty ? "it has no versions" : $"its versions are 1..{_state.Current!.Version}";
            Sender.Tell(new WorkflowReplies.DefinitionRejected(_workflowId,
                [$"workflow '{_workflowId}' has no version {cmd.ToVersion}; {known}"]));
            return;
        }
        _log.Info("Rolling back to the definition of v{Version}", target.Version);
        // Recorded as a new version, like any apply: history only grows.
        HandleApply(new WorkflowCommands.ApplyDefinition(_workflowId, target.Yaml, target.FileName));
    }

    private void HandleRedrive(WorkflowCommands.Redrive cmd)
    {
        // A deleted workflow delivers nothing any more, its dead letters included.
        if (RefuseWhenDeleted()) return;
        if (_definition is null)
        {
            Refuse(_state.Current is null ? "it has no definition; apply one first" : "its recorded definition no longer validates; apply a fixed one");
            return;
        }
        if (_redrive is not null)
        {
            Refuse("a redrive is running; try again when it is done");
            return;
        }
        // A child beside the stream (which it never touches), on the current definition's sink and transform.
        var definition = _definition;
        _redrive = Context.ActorOf(Akka.Actor.Props.Create(() => new RedriveActor(definition, _deps, _log)), $"redrive-{++_redrives}");
        Context.Watch(_redrive);
        _redrive.Tell(new RedriveActor.Run(cmd, Sender));
    }

    private void Refuse(string reason) =>
        Sender.Tell(new WorkflowReplies.LifecycleRefused(_workflowId, $"workflow '{_workflowId}': {reason}"));

    // ---- checkpoints ---------------------------------------------------------------------

    private WorkflowEvents.CheckpointAdvanced CheckpointEvent() =>
        new(_workflowId, _delivered.Value, _deliveredChanges, _deliveredRecords, _deadLetters, DateTimeOffset.UtcNow);

    private bool CheckpointDirty =>
        _delivered > _state.CheckpointPosition || _deliveredChanges != _state.DeliveredChanges || _deadLetters != _state.DeadLetters;

    private void PersistCheckpoint()
    {
        if (_persistingCheckpoint || !CheckpointDirty) return;
        _persistingCheckpoint = true;
        Persist(CheckpointEvent(), e =>
        {
            _persistingCheckpoint = false;
            _state = _state.Apply(e);
            _unpersistedChanges = 0;
            // The source may now release what is at or below the persisted checkpoint.
            _capture?.Tell(new ConfirmCheckpoint(_state.CheckpointPosition));
            SaveSnapshotIfDue();
        });
    }

    private void PersistCheckpointThen(Action then)
    {
        if (!CheckpointDirty)
        {
            then();
            return;
        }
        Persist(CheckpointEvent(), e =>
        {
            _state = _state.Apply(e);
            _unpersistedChanges = 0;
            then();
        });
    }

    private void SaveSnapshotIfDue()
    {
        if (LastSequenceNr % _deps.Settings.SnapshotEveryEvents == 0) SaveSnapshot(_state);
    }

    // ---- status --------------------------------------------------------------------------

    private void SetRunState(string state)
    {
        _runState = state;
        SignalState();
    }

    private void RecordError(string what, Exception cause)
    {
        _lastError = $"{what}: {cause.GetType().Name}: {cause.Message}";
        _lastErrorAt = DateTimeOffset.UtcNow;
        RememberError(StageOf(what, cause), _lastError, _delivered.Value);
    }

    private WorkflowStatus Status() => WithHealth(new(
        _workflowId,
        _state.Current?.ClientId,
        _state.Current?.Version ?? 0,
        _definition?.Transform.Package,
        _definition?.Transform.Version,
        _runState,
        _lastError,
        _lastErrorAt,
        _state.Checkpoint,
        _delivered.Value,
        _captured,
        _deliveredChanges,
        _deliveredRecords,
        _deadLetters,
        _retries,
        _restarts,
        _inFlight,
        _maxInFlight,
        _definition is null ? 0 : InFlightBound(_definition),
        _lag?.PendingChanges,
        _lag?.OldestPendingAge?.TotalSeconds,
        _lastLatencyMs,
        _lastDeliveryAt,
        _nodeName,
        _endpoint,
        _state.ReplayUntil,
        _state.DeletedAt) { SourcePendingBytes = _lag?.PendingBytes });

    private sealed class DeliveryObserver(IActorRef workflow, int generation) : IDeliveryObserver
    {
        public void Retrying(int attempt, TimeSpan delay, string reason) =>
            workflow.Tell(new DeliveryRetrying(generation, attempt, delay, reason));

        public void Accepted(int records, TimeSpan duration) { }

        public void EndpointHealthChanged(EndpointHealth health) =>
            workflow.Tell(new DeliveryEndpointChanged(generation, health));
    }
}
