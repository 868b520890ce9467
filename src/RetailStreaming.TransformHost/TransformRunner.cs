using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost;

/// <summary>
/// Runs one workflow's transform instance on its changes, one at a time (alone or in batches), each within a time budget.
/// </summary>
/// <remarks>
/// <para>Each call runs on the runner's own thread while the caller waits up to the budget. A batch
/// (<see cref="RunBatchAsync"/>) is handed over once and runs change after change on that thread, while
/// the caller watches each change's own budget: the hand-over costs a thread switch per batch, not per change. The
/// transform's result is enumerated there too, so a lazily-yielding transform is timed, and its
/// exceptions caught, like any other. Payloads are copied (serialized, then deep-cloned) so that no
/// object of the package's assemblies outlives the call: the records are plain JSON, can no longer be
/// changed by the transform, and do not keep its load context from unloading.</para>
/// <para><b>Overruns quarantine the runner.</b> .NET cannot abort a running thread, so a call that
/// overruns its budget can only be abandoned: the runner returns <see cref="TransformFailureKind.Overran"/>
/// and from then on fails every call at once with <see cref="TransformFailureKind.Quarantined"/>,
/// without calling the transform. The abandoned call goes on running on the runner's thread (a
/// background thread, which does not keep the process alive) until it returns, if ever; until then the
/// package's load context cannot unload. A quarantined workflow needs a new runner (a restart, usually
/// with a fixed transform version). Transforms not trusted to behave belong in the isolated (worker
/// process) mode, where an overrun kills the process instead.</para>
/// <para>Not thread-safe: the owner (the workflow's transform stage) calls it from one place at a time,
/// as the <see cref="ITransform"/> contract promises the transform.</para>
/// </remarks>
public sealed class TransformRunner : IDisposable
{
    /// <summary>Most records one change may produce unless the constructor says otherwise; bounds memory against a runaway transform.</summary>
    public const int DefaultMaxOutputsPerChange = 10_000;

    private const int MaxStackFrames = 6;
    private const int InitialScratchBytes = 4096;
    private const int MaxScratchBytes = 1 << 20;
    // The nesting a payload may have, as System.Text.Json reads JSON by default (the earlier copy parsed it).
    private static readonly JsonWriterOptions PayloadWriterOptions = new() { MaxDepth = 64 };
    private static readonly TimeSpan MaxBudget = TimeSpan.FromMilliseconds(int.MaxValue);

    private readonly WorkQueue _work = new();
    private ArrayBufferWriter<byte> _scratch = new(InitialScratchBytes);
    // The runner thread's one writer over the scratch buffer, reset for every payload (not one per change).
    private Utf8JsonWriter? _scratchWriter;
    private readonly Thread _thread;
    private readonly LoadedTransform? _owned;
    private readonly int _maxOutputs;
    private readonly TransformScheduler? _scheduler;
    private readonly TransformScheduler.Account? _account;
    private ITransform? _transform;
    private int _busy;
    private int _disposed;
    private volatile bool _initialized;
    private volatile string? _quarantineReason;

    /// <summary>Creates a runner over a transform loaded by a <see cref="TransformLoader"/>; the runner owns it and disposes it.</summary>
    /// <param name="transform">The loaded transform.</param>
    /// <param name="context">What the transform is told about its workflow.</param>
    /// <param name="timeBudget">The most time one change may take, enumeration included.</param>
    /// <param name="initializeBudget">The most time <see cref="Initialize"/> may take (default: the larger of the time budget and 30 s).</param>
    /// <param name="maxOutputsPerChange">The most records one change may produce.</param>
    /// <param name="scheduler">The node's transform slots, taken for Initialize and for each change (none: the runner's thread runs unbounded).</param>
    public TransformRunner(LoadedTransform transform, TransformContext context, TimeSpan timeBudget,
        TimeSpan? initializeBudget = null, int maxOutputsPerChange = DefaultMaxOutputsPerChange, TransformScheduler? scheduler = null)
        : this((transform ?? throw new ArgumentNullException(nameof(transform))).Transform, context, timeBudget, initializeBudget, maxOutputsPerChange, scheduler) =>
        _owned = transform;

    /// <summary>Creates a runner over a transform instance (the local test harness's way; the runner does not own it).</summary>
    /// <param name="transform">The transform instance, used by this runner only.</param>
    /// <param name="context">What the transform is told about its workflow.</param>
    /// <param name="timeBudget">The most time one change may take, enumeration included.</param>
    /// <param name="initializeBudget">The most time <see cref="Initialize"/> may take (default: the larger of the time budget and 30 s).</param>
    /// <param name="maxOutputsPerChange">The most records one change may produce.</param>
    /// <param name="scheduler">The node's transform slots, taken for Initialize and for each change (none: the runner's thread runs unbounded).</param>
    public TransformRunner(ITransform transform, TransformContext context, TimeSpan timeBudget,
        TimeSpan? initializeBudget = null, int maxOutputsPerChange = DefaultMaxOutputsPerChange, TransformScheduler? scheduler = null)
    {
        _transform = transform ?? throw new ArgumentNullException(nameof(transform));
        Context = context ?? throw new ArgumentNullException(nameof(context));
        if (timeBudget <= TimeSpan.Zero || timeBudget > MaxBudget)
            throw new ArgumentOutOfRangeException(nameof(timeBudget), timeBudget, "The time budget must be positive and under 24 days.");
        TimeBudget = timeBudget;
        InitializeBudget = initializeBudget ?? (timeBudget > TimeSpan.FromSeconds(30) ? timeBudget : TimeSpan.FromSeconds(30));
        if (InitializeBudget <= TimeSpan.Zero || InitializeBudget > MaxBudget)
            throw new ArgumentOutOfRangeException(nameof(initializeBudget), initializeBudget, "The initialize budget must be positive and under 24 days.");
        ArgumentOutOfRangeException.ThrowIfLessThan(maxOutputsPerChange, 1);
        _maxOutputs = maxOutputsPerChange;
        _scheduler = scheduler;
        _account = scheduler?.Open(context.WorkflowId);

        _thread = new Thread(WorkLoop) { IsBackground = true, Name = $"transform {context.WorkflowId}" };
        _thread.Start();
    }

    /// <summary>What the transform is told about its workflow.</summary>
    public TransformContext Context { get; }

    /// <summary>The most time one change may take.</summary>
    public TimeSpan TimeBudget { get; }

    /// <summary>The most time <see cref="Initialize"/> may take.</summary>
    public TimeSpan InitializeBudget { get; }

    /// <summary>True once <see cref="Initialize"/> has succeeded.</summary>
    public bool IsInitialized => _initialized;

    /// <summary>True after an overrun: the runner no longer calls the transform.</summary>
    public bool IsQuarantined => _quarantineReason is not null;

    /// <summary>Why the runner is quarantined, or null.</summary>
    public string? QuarantineReason => _quarantineReason;

    /// <summary>
    /// Calls the transform's <see cref="ITransform.Initialize"/> within <see cref="InitializeBudget"/>; required before the first change.
    /// Scheduled, it first takes a general slot (never the light lane: its length is unknown), so that a
    /// heavy Initialize takes its turn like changes do; the wait for the slot does not count against the budget.
    /// </summary>
    /// <exception cref="TransformInitializationException">Initialize threw, overran (the runner is then quarantined), or the runner is quarantined.</exception>
    public void Initialize()
    {
        var transform = Enter(initializing: true);
        if (transform is null)
            throw new TransformInitializationException(TransformFailureKind.Quarantined, _quarantineReason!);

        var init = new InitializeCall();
        var call = Post(() =>
        {
            if (_scheduler is not null) Volatile.Write(ref init.Lease, _scheduler.Acquire(_account!, mayUseLightLane: false));
            Volatile.Write(ref init.Started, Stopwatch.GetTimestamp());
            try
            {
                transform.Initialize(Context);
                return null;
            }
            catch (Exception e)
            {
                return Describe(e);
            }
            finally
            {
                Volatile.Read(ref init.Lease)?.Release();
            }
        });
        var budgetTicks = (long)(InitializeBudget.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var started = Volatile.Read(ref init.Started);
            // Still waiting for a slot: its budget has not begun.
            var remaining = started == 0 ? budgetTicks : budgetTicks - (Stopwatch.GetTimestamp() - started);
            if (remaining > 0 && call.Wait(TimeSpan.FromSeconds(remaining / (double)Stopwatch.Frequency))) break;
            if (remaining > 0 || started == 0) continue;
            // The abandoned call keeps its thread, not its slot: the other workflows go on.
            Volatile.Read(ref init.Lease)?.Release();
            var reason = Overrun("Initialize", InitializeBudget, Stopwatch.GetElapsedTime(started));
            throw new TransformInitializationException(TransformFailureKind.Overran, reason);
        }
        Volatile.Write(ref _busy, 0);
        if (call.Result is { } error)
            throw new TransformInitializationException(TransformFailureKind.Threw, error);
        _initialized = true;
    }

    /// <summary>An Initialize in progress: the worker publishes its slot, then its start (0: waiting for a slot).</summary>
    private sealed class InitializeCall
    {
        public TransformScheduler.Lease? Lease;
        public long Started;
    }

    /// <summary>Transforms one change within the time budget, waiting for the result.</summary>
    public TransformResult Run(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        // Scheduled: the batch path keeps the wait for a slot out of the budget.
        if (_scheduler is not null) return RunBatchAsync([change]).GetAwaiter().GetResult()[0];
        if (Enter(initializing: false) is not { } transform) return QuarantinedResult();
        var call = Post(() => Execute(transform, change));
        var started = Stopwatch.GetTimestamp();
        return call.Wait(TimeBudget) ? Completed(call) : Overran(started);
    }

    /// <summary>Transforms one change within the time budget without blocking the caller's thread.</summary>
    public async Task<TransformResult> RunAsync(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (_scheduler is not null) return (await RunBatchAsync([change]).ConfigureAwait(false))[0];
        if (Enter(initializing: false) is not { } transform) return QuarantinedResult();
        var call = Post(() => Execute(transform, change));
        var started = Stopwatch.GetTimestamp();
        try
        {
            await call.WaitAsync(TimeBudget).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return Overran(started);
        }
        return Completed(call);
    }

    /// <summary>
    /// Transforms one change on the calling thread, with no time budget and no hand-over to the
    /// runner's thread: for a process whose watchdog is outside it (the transform worker of
    /// <c>transform.isolation: process</c>, which the node kills past the budget). The same checks
    /// and copies of the output as <see cref="Run"/>.
    /// </summary>
    public TransformResult RunOnCallingThread(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (_scheduler is not null)
            throw new InvalidOperationException("A runner with transform slots runs its changes on its own thread.");
        if (Enter(initializing: false) is not { } transform) return QuarantinedResult();
        try
        {
            return Execute(transform, change);
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>
    /// Transforms a batch of changes in order on the runner's thread, in one hand-over, each change
    /// still within its own time budget; the caller's thread is not blocked.
    /// </summary>
    /// <remarks>
    /// One result per change, in input order, for a prefix of the batch: the results stop at the first
    /// change that overran its budget (its result is <see cref="TransformFailureKind.Overran"/>, and the
    /// runner is quarantined) or, when the runner is quarantined already, at the first change
    /// (<see cref="TransformFailureKind.Quarantined"/>). A change that throws or gives invalid output
    /// fails alone: the changes after it still run. The budget is per change: a long batch of quick
    /// changes never overruns.
    /// </remarks>
    public async Task<IReadOnlyList<TransformResult>> RunBatchAsync(IReadOnlyList<ChangeEvent> changes)
    {
        ArgumentNullException.ThrowIfNull(changes);
        if (changes.Count == 0) return [];
        for (var i = 0; i < changes.Count; i++)
            if (changes[i] is null) throw new ArgumentException($"Change {i} of the batch is null.", nameof(changes));
        if (Enter(initializing: false) is not { } transform) return [QuarantinedResult()];

        var batch = new BatchCall(changes.Count);
        // Scheduled, the worker writes the first start once it holds a slot (0: not started yet).
        if (_scheduler is null) batch.Started[0] = Stopwatch.GetTimestamp();
        _work.Add(() => ExecuteBatch(transform, changes, batch));
        var budgetTicks = (long)(TimeBudget.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var index = Volatile.Read(ref batch.Index);
            if (index >= changes.Count) break;
            if (index == BatchCall.Abandoned)
            {
                // The worker found a change past its budget itself (this side was late to look): it
                // has stopped the batch there and completes it now.
                await batch.Done.Task.ConfigureAwait(false);
                break;
            }
            var started = Volatile.Read(ref batch.Started[index]);
            // A change still waiting for a slot has not started: its budget has not begun.
            var remaining = started == BatchCall.NotStarted ? budgetTicks : budgetTicks - (Stopwatch.GetTimestamp() - started);
            if (remaining <= 0)
            {
                // The change at `index` is past its budget, unless the worker finishes it just now:
                // whoever moves the index first decides.
                if (Interlocked.CompareExchange(ref batch.Index, BatchCall.Abandoned, index) != index) continue;
                // The abandoned call keeps its thread, not its slot: the other workflows go on.
                Volatile.Read(ref batch.Lease)?.Release();
                var results = new List<TransformResult>(index + 1);
                for (var i = 0; i < index; i++) results.Add(batch.Results[i]!);
                results.Add(Overran(started));
                return results;
            }
            try
            {
                await batch.Done.Task.WaitAsync(TimeSpan.FromSeconds(remaining / (double)Stopwatch.Frequency)).ConfigureAwait(false);
                break;
            }
            catch (TimeoutException)
            {
                // Check which change runs now and how long it has run.
            }
        }
        if (batch.OverranAt is var overranAt and >= 0)
            return batch.Results.Take(overranAt + 1).ToList(); // the runner stays busy: it is quarantined
        Volatile.Write(ref _busy, 0);
        return batch.Results!;
    }

    /// <summary>
    /// Stops the runner's thread (once any abandoned call has returned) and releases the transform,
    /// and with it, when the runner owns it, the package version's load context.
    /// </summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _work.CompleteAdding();
        // An abandoned call may never return: do not wait for it.
        if (!IsQuarantined && Thread.CurrentThread != _thread)
            _thread.Join(TimeSpan.FromSeconds(5));
        _transform = null;
        _owned?.Dispose();
    }

    /// <summary>Checks the runner can take a call and marks it busy; null when quarantined.</summary>
    private ITransform? Enter(bool initializing)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) == 1, this);
        if (IsQuarantined) return null;
        if (initializing && _initialized)
            throw new InvalidOperationException("The transform is already initialized.");
        if (!initializing && !_initialized)
            throw new InvalidOperationException("Initialize must succeed before the first change is run.");
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            throw new InvalidOperationException("The runner is already running a call: a transform is never called concurrently.");
        return _transform ?? throw new ObjectDisposedException(nameof(TransformRunner));
    }

    private Task<T> Post<T>(Func<T> body)
    {
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() => completion.SetResult(body()));
        return completion.Task;
    }

    private TransformResult Completed(Task<TransformResult> call)
    {
        // Returned, but past its budget: the waiting side was late to look. It overran all the same.
        if (call.Result.Elapsed > TimeBudget) return OverranAfter(call.Result.Elapsed);
        Volatile.Write(ref _busy, 0);
        return call.Result;
    }

    private TransformResult Overran(long started) => OverranAfter(Stopwatch.GetElapsedTime(started));

    private TransformResult OverranAfter(TimeSpan elapsed) =>
        new TransformResult.Failed(TransformFailureKind.Overran, Overrun("Transform", TimeBudget, elapsed), elapsed);

    private string Overrun(string call, TimeSpan budget, TimeSpan elapsed)
    {
        // The runner stays busy for good: the abandoned call still runs on its thread.
        var reason = $"{call} did not finish within its time budget of {budget.TotalMilliseconds:0} ms (waited {elapsed.TotalMilliseconds:0} ms). " +
                     "The call was abandoned, as a .NET thread cannot be aborted, and the runner is quarantined: " +
                     "no further change is run until the workflow restarts with a new runner.";
        _quarantineReason ??= reason;
        return reason;
    }

    private TransformResult QuarantinedResult() =>
        new TransformResult.Failed(TransformFailureKind.Quarantined, $"The transform is quarantined and was not called. {_quarantineReason}", TimeSpan.Zero);

    /// <summary>A batch in progress: the worker publishes each change's start and result, then moves <see cref="Index"/> on.</summary>
    private sealed class BatchCall(int count)
    {
        public const int Abandoned = -1;
        public const long NotStarted = 0;
        public TransformScheduler.Lease? Lease;
        public readonly long[] Started = new long[count];
        public readonly TransformResult[] Results = new TransformResult[count];
        public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public int Index;
        /// <summary>The change the worker itself found past its budget (-1: none).</summary>
        public int OverranAt = -1;
    }

    private void ExecuteBatch(ITransform transform, IReadOnlyList<ChangeEvent> changes, BatchCall batch)
    {
        TransformScheduler.Lease? lease = null;
        for (var i = 0; i < changes.Count; i++)
        {
            if (_scheduler is not null && lease is null)
            {
                // Published before the start, so whoever abandons this change releases this slot.
                lease = _scheduler.Acquire(_account!);
                Volatile.Write(ref batch.Lease, lease);
                Volatile.Write(ref batch.Started[i], Stopwatch.GetTimestamp());
            }
            // Unscheduled, the first change's start is the hand-over, as for a single change; the
            // others' are written below, before the index moves to them.
            var result = Execute(transform, changes[i]);
            if (result.Elapsed > TimeBudget)
            {
                // Past its budget, though it returned: the waiting side was late to look (a busy
                // machine). The change overran all the same, so the batch stops here, as it would
                // have, and the runner is quarantined: the verdict must not depend on the load.
                lease?.Release();
                if (Interlocked.CompareExchange(ref batch.Index, BatchCall.Abandoned, i) != i) return;
                batch.Results[i] = OverranAfter(result.Elapsed);
                batch.OverranAt = i;
                batch.Done.SetResult();
                return;
            }
            batch.Results[i] = result;
            // The slot goes on to a waiting runner once this one has had its slice. Every change's
            // time is told to the scheduler: a runner whose changes take less than a slice is light.
            var yielding = lease is not null && (lease.ChangeFinished() || i + 1 == changes.Count);
            if (yielding)
            {
                lease!.Release();
                lease = null;
            }
            // Written before the index moves (a full fence), so the waiting side reads a complete
            // result and the next change's start. When the waiting side abandoned this change, the
            // runner is quarantined and the transform is not called again.
            if (i + 1 < changes.Count) batch.Started[i + 1] = yielding ? BatchCall.NotStarted : Stopwatch.GetTimestamp();
            if (Interlocked.CompareExchange(ref batch.Index, i + 1, i) != i)
            {
                lease?.Release();
                return;
            }
        }
        batch.Done.SetResult();
    }

    private TransformResult Execute(ITransform transform, ChangeEvent change)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var produced = transform.Transform(change, Context);
            if (produced is null)
                return Invalid("Transform returned null; return an empty sequence to drop a change.");
            // Most changes give one record: it is kept in locals, and lists are made only for a second.
            // A list or array result is walked by index (no enumerator); anything else is enumerated.
            OutputRecord? first = null;
            byte[]? firstJson = null;
            List<OutputRecord>? outputs = null;
            List<byte[]>? json = null;
            var count = 0;
            if (produced is IReadOnlyList<OutputRecord> list)
            {
                for (var i = 0; i < list.Count; i++)
                    if (Add(list[i]) is { } invalid) return invalid;
            }
            else
            {
                foreach (var record in produced)
                    if (Add(record) is { } invalid) return invalid;
            }
            return count switch
            {
                0 => new TransformResult.Ok([], Stopwatch.GetElapsedTime(started)) { PayloadJson = [] },
                1 => new TransformResult.Ok([first!], Stopwatch.GetElapsedTime(started)) { PayloadJson = [firstJson!] },
                _ => new TransformResult.Ok(outputs!, Stopwatch.GetElapsedTime(started)) { PayloadJson = json },
            };

            // Checks one record and keeps a detached copy of it; the failure when it cannot be delivered.
            TransformResult? Add(OutputRecord? record)
            {
                var index = count;
                if (index == _maxOutputs)
                    return Invalid($"Transform produced more than {_maxOutputs} records for one change.");
                if (record is null)
                    return Invalid($"Output record {index} is null.");
                if (string.IsNullOrWhiteSpace(record.Type))
                    return Invalid($"Output record {index} has an empty type.");
                if (string.IsNullOrWhiteSpace(record.Key))
                    return Invalid($"Output record {index} (type '{record.Type}') has an empty key.");
                if (record.Payload is null)
                    return Invalid($"Output record {index} (type '{record.Type}', key '{record.Key}') has a null payload.");
                JsonNode copy;
                byte[] bytes;
                try
                {
                    (copy, bytes) = Detach(record.Payload);
                }
                catch (Exception e)
                {
                    return Invalid($"The payload of output record {index} (type '{record.Type}', key '{record.Key}') cannot be serialized: {Describe(e)}");
                }
                var detached = record with { Payload = copy }; // keeps IsDelete and any later SDK property
                if (index == 0)
                {
                    first = detached;
                    firstJson = bytes;
                }
                else
                {
                    (outputs ??= [first!]).Add(detached);
                    (json ??= [firstJson!]).Add(bytes);
                }
                count++;
                return null;
            }
        }
        catch (Exception e)
        {
            return new TransformResult.Failed(TransformFailureKind.Threw, Describe(e), Stopwatch.GetElapsedTime(started), e.GetType().FullName);
        }

        TransformResult Invalid(string reason) =>
            new TransformResult.Failed(TransformFailureKind.InvalidOutput, reason, Stopwatch.GetElapsedTime(started));
    }

    /// <summary>
    /// A detached copy of a payload that the delivery can always serialize and that holds no object
    /// of the package. Writing it first proves it serializes (depth, numbers, the package's own
    /// converters, all within the budget); the deep clone then turns every value that is not a
    /// framework primitive into JSON (System.Text.Json clones such values by serializing them), at a
    /// fraction of the cost of parsing the written text again. The written text is kept too: it is
    /// what the delivery writes for the payload (<see cref="TransformResult.Ok.PayloadJson"/>).
    /// </summary>
    private (JsonNode Copy, byte[] Json) Detach(JsonNode payload)
    {
        // Only the runner's thread gets here, one call at a time: the scratch buffer is its own.
        _scratch.ResetWrittenCount();
        byte[] json;
        try
        {
            var writer = _scratchWriter ??= new Utf8JsonWriter(_scratch, PayloadWriterOptions);
            writer.Reset(_scratch); // also clears what a payload that failed half-way left
            payload.WriteTo(writer);
            writer.Flush();
            json = _scratch.WrittenSpan.ToArray();
        }
        finally
        {
            // One huge payload must not keep its buffer for the runner's lifetime.
            if (_scratch.Capacity > MaxScratchBytes) _scratch = new ArrayBufferWriter<byte>(InitialScratchBytes);
        }
        return (payload.DeepClone(), json);
    }

    /// <summary>Exception type and message (inner ones too) and the top frames of the transform's own stack.</summary>
    internal static string Describe(Exception e)
    {
        var text = new StringBuilder();
        text.Append(e.GetType().FullName).Append(": ").Append(e.Message);
        var depth = 0;
        for (var inner = e.InnerException; inner is not null && depth < 3; inner = inner.InnerException, depth++)
            text.Append(" ---> ").Append(inner.GetType().FullName).Append(": ").Append(inner.Message);
        var frames = (e.StackTrace ?? "")
            .Split('\n')
            .Select(line => line.Trim())
            .Where(line => line.StartsWith("at ", StringComparison.Ordinal)
                           && !line.StartsWith("at RetailStreaming.TransformHost.TransformRunner.", StringComparison.Ordinal))
            .Take(MaxStackFrames);
        foreach (var frame in frames)
            text.Append("\n   ").Append(frame);
        return text.ToString();
    }

    private void WorkLoop()
    {
        while (_work.TryTake(out var item))
        {
            try
            {
                item();
            }
            catch (Exception)
            {
                // Every item reports its own outcome; nothing may escape and end the process.
            }
            item = null;
        }
    }

    /// <summary>
    /// The runner thread's work, in order. Its taker blocks as soon as it is empty: a
    /// <c>BlockingCollection</c> spins first (<c>sched_yield</c>), which was about 5 % of the node's CPU
    /// with workflows at a low rate (one small batch at a time, perf).
    /// </summary>
    private sealed class WorkQueue
    {
        private readonly Queue<Action> _items = new();
        private bool _completed;

        /// <summary>Queues an item; throws once <see cref="CompleteAdding"/> was called.</summary>
        public void Add(Action item)
        {
            lock (_items)
            {
                if (_completed) throw new InvalidOperationException("The runner takes no more work: it is disposed.");
                _items.Enqueue(item);
                Monitor.Pulse(_items);
            }
        }

        /// <summary>No more items: the taker finishes what is queued, then <see cref="TryTake"/> answers false.</summary>
        public void CompleteAdding()
        {
            lock (_items)
            {
                _completed = true;
                Monitor.PulseAll(_items);
            }
        }

        /// <summary>The next item, waiting for one; false once completed and empty.</summary>
        public bool TryTake([NotNullWhen(true)] out Action? item)
        {
            lock (_items)
            {
                while (_items.Count == 0)
                {
                    if (_completed)
                    {
                        item = null;
                        return false;
                    }
                    Monitor.Wait(_items);
                }
                item = _items.Dequeue();
                return true;
            }
        }
    }
}
