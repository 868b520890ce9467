using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost.Isolation;

/// <summary>How a transform worker process is started and limited.</summary>
public sealed record IsolatedTransformOptions
{
    /// <summary>The worker's GC heap limit in MiB (<c>DOTNET_GCHeapHardLimit</c>): past it an allocation throws OutOfMemoryException.</summary>
    public int MemoryMb { get; init; } = 512;

    /// <summary>The CPU seconds one worker process may use (RLIMIT_CPU), or null for no limit.</summary>
    public int? CpuSeconds { get; init; }

    /// <summary>The worker's assembly; default <c>RetailStreaming.TransformWorker.dll</c> beside the host's own.</summary>
    public string? WorkerPath { get; init; }

    /// <summary>The longest a worker may take to start, load the package and initialize the transform.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>A worker process that could not be started, or failed in a way that is not one change's fault.</summary>
public sealed class TransformWorkerException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Runs one workflow's transform in a worker process (<c>transform.isolation: process</c>): the same
/// loader, the same SDK contract and output rules as <see cref="TransformRunner"/>, but whatever the
/// transform does can only end that process.
/// </summary>
/// <remarks>
/// <para>Changes go to the worker a batch at a time (one frame), and come back one result per change
/// (<see cref="WorkerFrames"/>). The runner watches each change's time budget from the moment the
/// previous result arrived (the first from the hand-over). <b>An overrun kills the worker</b>: the change
/// fails with <see cref="TransformFailureKind.Overran"/>, a new worker starts and the rest of the batch
/// goes on; unlike in process, nothing is quarantined, since the runaway code is gone. <b>A worker that
/// dies</b> while it runs a change (Environment.Exit, a stack overflow, SIGXCPU) fails that change with
/// <see cref="TransformFailureKind.WorkerExited"/>, its exit code and its last lines of standard error,
/// and is restarted the same way. After an OutOfMemoryException (the heap limit) the worker reports the
/// change as failed and exits, so the next one starts on an empty heap.</para>
/// <para>A worker that cannot start (the package does not load, Initialize throws, it dies at once) is not
/// retried here: the call throws (<see cref="TransformLoadException"/>, <see cref="TransformInitializationException"/>
/// or <see cref="TransformWorkerException"/>), and the caller backs off (the workflow restarts with its
/// own backoff and shows the reason).</para>
/// <para>Not thread-safe: one call at a time, as for <see cref="TransformRunner"/>.</para>
/// </remarks>
public sealed class IsolatedTransformRunner : IDisposable
{
    private readonly TransformPackageStore _store;
    private readonly string _packageId;
    private readonly string _typeName;
    private readonly IsolatedTransformOptions _options;
    private readonly string _workerPath;
    private TransformWorker? _worker;
    private ExtractedTransformPackage? _package;
    private bool _disposed;

    /// <summary>Creates the runner; <see cref="Start"/> starts its first worker.</summary>
    /// <param name="store">Where the package is found and extracted (the worker loads it from the same cache).</param>
    /// <param name="packageId">The package id.</param>
    /// <param name="typeName">The full name of the transform class.</param>
    /// <param name="context">What the transform is told; its logger receives the transform's log lines.</param>
    /// <param name="timeBudget">The most time one change may take; past it the worker is killed.</param>
    /// <param name="options">The worker's limits and location.</param>
    public IsolatedTransformRunner(TransformPackageStore store, string packageId, string typeName, TransformContext context,
        TimeSpan timeBudget, IsolatedTransformOptions? options = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _packageId = packageId ?? throw new ArgumentNullException(nameof(packageId));
        _typeName = typeName ?? throw new ArgumentNullException(nameof(typeName));
        Context = context ?? throw new ArgumentNullException(nameof(context));
        if (timeBudget <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(timeBudget), timeBudget, "The time budget must be positive.");
        TimeBudget = timeBudget;
        _options = options ?? new IsolatedTransformOptions();
        _workerPath = _options.WorkerPath ?? Path.Combine(AppContext.BaseDirectory, "RetailStreaming.TransformWorker.dll");
    }

    /// <summary>What the transform is told about its workflow.</summary>
    public TransformContext Context { get; }

    /// <summary>The most time one change may take.</summary>
    public TimeSpan TimeBudget { get; }

    /// <summary>Workers started after the first (an overrun, a crash, a recycle).</summary>
    public int Restarts { get; private set; }

    /// <summary>The running worker's process id, or null between workers.</summary>
    public int? WorkerProcessId => _worker?.ProcessId;

    /// <summary>
    /// Finds and extracts the package, starts a worker and waits until it has loaded and initialized the
    /// transform.
    /// </summary>
    /// <exception cref="TransformLoadException">The package cannot be found or loaded.</exception>
    /// <exception cref="TransformInitializationException">The transform's Initialize failed.</exception>
    /// <exception cref="TransformWorkerException">The worker could not be started or died while starting.</exception>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_worker is not null) throw new InvalidOperationException("The worker is already started.");
        _package ??= _store.Extract(_packageId, Context.TransformVersion);
        if (!File.Exists(_workerPath))
            throw new TransformWorkerException($"the transform worker {_workerPath} is missing: process isolation needs " +
                                               "RetailStreaming.TransformWorker beside the node (it is part of the node's build and publish output)");
        _worker = TransformWorker.Start(_workerPath, _options, Init(_package), Context.Logger);
    }

    /// <summary>
    /// Transforms a batch of changes in order, each within its budget; one result per change, in input
    /// order (an overrun or a dead worker fails its change alone, and the next changes run in a new worker).
    /// </summary>
    /// <exception cref="TransformWorkerException">A new worker could not be started: the changes after the failed one were not run.</exception>
    public async Task<IReadOnlyList<TransformResult>> RunBatchAsync(IReadOnlyList<ChangeEvent> changes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var results = new TransformResult?[changes.Count];
        var pending = new List<int>(changes.Count);
        while (true)
        {
            // The changes without a result yet: all of them, then, after a worker was replaced, those it
            // had not answered (the one it failed on has its result; those it ran before it whose results
            // were still in its buffer run again in the new worker).
            pending.Clear();
            for (var i = 0; i < results.Length; i++)
                if (results[i] is null) pending.Add(i);
            if (pending.Count == 0) break;

            var worker = await ReadyWorkerAsync(restart: false).ConfigureAwait(false);
            int seq;
            try
            {
                seq = worker.SendBatch(changes, pending);
            }
            catch (IOException)
            {
                // The worker is gone already (it exited between two batches): a new one takes the batch.
                await ReplaceAsync(worker).ConfigureAwait(false);
                continue;
            }
            await CollectAsync(worker, seq, pending, results, cancellationToken).ConfigureAwait(false);
        }
        RecycleIfNearCpuLimit();
        return results!;
    }

    /// <summary>
    /// Takes the worker's results for the batch it was sent, in order, until it has answered every change
    /// or one change ended it (an overrun, a crash, a recycle): then it is replaced.
    /// </summary>
    private async Task CollectAsync(TransformWorker worker, int seq, List<int> pending, TransformResult?[] results, CancellationToken cancellationToken)
    {
        var budgetTicks = (long)(TimeBudget.TotalSeconds * Stopwatch.Frequency);
        var since = Stopwatch.GetTimestamp(); // the hand-over, then each result's arrival
        var next = 0;
        while (next < pending.Count)
        {
            var (_, started) = Running(worker, seq, next, pending.Count, since);
            var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), started + budgetTicks);
            WorkerWire.Result? frame;
            bool ended;
            try
            {
                // A result that has arrived already needs no timer (the worker sends them a run at a time).
                (frame, ended) = await worker.NextResultAsync(remaining > TimeSpan.Zero ? remaining + TimeSpan.FromMilliseconds(1) : TimeSpan.Zero,
                    cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The caller gave up on the batch: this worker is in the middle of it, and its late
                // results must not answer the next one.
                await worker.KillAsync().ConfigureAwait(false);
                worker.Dispose();
                _worker = null;
                throw;
            }

            if (frame is not null)
            {
                results[pending[next++]] = ResultOf(frame);
                since = Stopwatch.GetTimestamp();
                if (!frame.Recycle) continue;
                await ReplaceAsync(worker).ConfigureAwait(false);
                return;
            }

            int suspect;
            if (ended)
            {
                // The change it was running when it died (it says which before each one); results it had
                // not sent yet for the changes before it are lost with it, and those changes run again.
                (suspect, started) = Running(worker, seq, next, pending.Count, since);
                var exit = await worker.ExitAsync().ConfigureAwait(false);
                results[pending[suspect]] = new TransformResult.Failed(TransformFailureKind.WorkerExited,
                    $"the transform worker (pid {worker.ProcessId}) exited with {exit} while transforming this change; " +
                    "the change was not transformed and a new worker runs the next ones", Stopwatch.GetElapsedTime(started));
            }
            else
            {
                // No result in time: judged again from what the worker runs now, it may have moved on.
                (suspect, started) = Running(worker, seq, next, pending.Count, since);
                var elapsed = Stopwatch.GetElapsedTime(started);
                if (elapsed < TimeBudget) continue;
                await worker.KillAsync().ConfigureAwait(false);
                results[pending[suspect]] = new TransformResult.Failed(TransformFailureKind.Overran,
                    $"the change did not finish within its time budget of {TimeBudget.TotalMilliseconds:0} ms (waited {elapsed.TotalMilliseconds:0} ms): " +
                    $"the transform worker (pid {worker.ProcessId}) was killed and a new worker runs the next ones", elapsed);
            }
            await ReplaceAsync(worker).ConfigureAwait(false);
            return;
        }
    }

    /// <summary>
    /// The change of the sent batch that the worker runs now (an index into it, from <paramref name="next"/> on)
    /// and since when; between changes, or before the batch starts, the next unanswered change since the
    /// last result arrived (or the hand-over).
    /// </summary>
    private static (int Index, long Started) Running(TransformWorker worker, int seq, int next, int count, long since)
    {
        if (worker.Progress.Read(seq) is { } running && running.Index >= next && running.Index < count)
            return ((int)running.Index, Math.Max(running.Started, 0));
        return (next, since);
    }

    /// <summary>Stops the worker: standard input closes (it exits by itself), or it is killed after a grace period.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _worker?.Dispose();
        _worker = null;
    }

    private async Task<TransformWorker> ReadyWorkerAsync(bool restart)
    {
        if (_worker is { } running) return running;
        try
        {
            Start();
        }
        catch (Exception e) when (e is TransformLoadException or TransformInitializationException or TransformWorkerException)
        {
            throw new TransformWorkerException($"the transform worker could not be {(restart ? "restarted" : "started")}: {e.Message}", e);
        }
        await Task.CompletedTask.ConfigureAwait(false);
        return _worker!;
    }

    private async Task ReplaceAsync(TransformWorker worker)
    {
        await worker.KillAsync().ConfigureAwait(false);
        worker.Dispose();
        _worker = null;
        Restarts++;
        Context.Logger.Warning("Transform worker {ProcessId} replaced ({Restarts} restart(s))", worker.ProcessId, Restarts);
        await ReadyWorkerAsync(restart: true).ConfigureAwait(false);
    }

    /// <summary>
    /// RLIMIT_CPU counts a process's whole life: a worker that has used half of it is replaced between
    /// batches, so that only a change that itself burns about half the limit is ever cut short by it.
    /// </summary>
    private void RecycleIfNearCpuLimit()
    {
        if (_options.CpuSeconds is not { } limit || _worker is not { } worker) return;
        if (worker.CpuTime is { } used && used.TotalSeconds >= limit / 2.0)
        {
            worker.Dispose();
            _worker = null;
            Restarts++;
            Context.Logger.Info("Transform worker {ProcessId} recycled after {CpuSeconds} CPU seconds (limit {Limit})",
                worker.ProcessId, (int)used.TotalSeconds, limit);
        }
    }

    private JsonObject Init(ExtractedTransformPackage package)
    {
        var settings = new JsonObject();
        foreach (var (key, value) in Context.Settings) settings[key] = value;
        return new JsonObject
        {
            ["t"] = WorkerMessages.Init,
            ["package"] = package.Id,
            ["version"] = Context.TransformVersion,
            ["packageVersion"] = package.Version,
            ["packagePath"] = package.PackagePath,
            ["cacheDirectory"] = _store.CacheDirectory,
            ["type"] = _typeName,
            ["workflowId"] = Context.WorkflowId,
            ["clientId"] = Context.ClientId,
            ["settings"] = settings,
            ["timeBudgetMs"] = TimeBudget.TotalMilliseconds,
            ["cpuSeconds"] = _options.CpuSeconds,
        };
    }

    private TransformResult ResultOf(WorkerWire.Result frame)
    {
        if (frame.Outputs is { } outputs) return new TransformResult.Ok(outputs, frame.Elapsed);

        var kind = Enum.TryParse<TransformFailureKind>(frame.Kind, out var k) ? k : TransformFailureKind.Threw;
        var reason = frame.Reason ?? "the worker gave no reason";
        if (frame.ExceptionType == typeof(OutOfMemoryException).FullName)
            reason += $"\n(the worker's heap is limited to {_options.MemoryMb} MiB, transform.limits.memoryMb; a new worker runs the next changes)";
        else if (frame.Recycle)
            reason += "\n(a new worker runs the next changes)";
        // The worker's own budget is only a backstop (longer than this one): its overrun is reported as ours.
        return new TransformResult.Failed(kind == TransformFailureKind.Quarantined ? TransformFailureKind.Overran : kind, reason, frame.Elapsed, frame.ExceptionType);
    }

    /// <summary>One worker process: its standard streams, the frames it sent, the last lines it wrote to standard error.</summary>
    private sealed class TransformWorker : IDisposable
    {
        private const int HeadLines = 6;
        private const int TailLines = 6;
        private const int MaxLineChars = 400;

        private readonly Process _process;
        private readonly Stream _input;
        // Decoded results (WorkerWire.Result) and the other messages but log lines (JsonObject), in order.
        private readonly Channel<object> _results = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        private readonly FrameBuffer _send = new();
        private readonly string _progressPath;
        private int _seq;
        private readonly ITransformLogger _logger;
        private readonly List<string> _head = [];
        private readonly Queue<string> _tail = new();
        private int _skipped;
        private Exception? _readFailure;

        private TransformWorker(Process process, ITransformLogger logger, WorkerProgress progress, string progressPath)
        {
            _process = process;
            Progress = progress;
            _progressPath = progressPath;
            _logger = logger;
            _input = process.StandardInput.BaseStream;
            ProcessId = process.Id;
        }

        public int ProcessId { get; }

        /// <summary>Which change the worker runs, and since when.</summary>
        public WorkerProgress Progress { get; }

        public TimeSpan? CpuTime
        {
            get
            {
                try
                {
                    return _process.HasExited ? null : _process.TotalProcessorTime;
                }
                catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
                {
                    return null;
                }
            }
        }

        public static TransformWorker Start(string workerPath, IsolatedTransformOptions options, JsonObject init, ITransformLogger logger)
        {
            var start = new ProcessStartInfo(DotnetHost())
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = Path.GetDirectoryName(workerPath)!,
            };
            start.ArgumentList.Add(workerPath);
            // The heap limit makes an allocation past it throw OutOfMemoryException in the worker
            // (https://learn.microsoft.com/dotnet/core/runtime-config/garbage-collector#heap-hard-limit);
            // values of DOTNET_GC* variables are hexadecimal.
            start.Environment["DOTNET_GCHeapHardLimit"] = ((long)options.MemoryMb * 1024 * 1024).ToString("X");
            start.Environment["DOTNET_gcServer"] = "0";
            start.Environment["DOTNET_DbgEnableMiniDump"] = "0";

            // Removed once the worker has mapped it (the mappings outlive the name), or when it is disposed.
            var progressPath = Path.Combine(Path.GetTempPath(), $"rs-transform-worker-{Guid.NewGuid():N}.progress");
            var progress = WorkerProgress.Create(progressPath);
            init["progressPath"] = progressPath;
            Process process;
            try
            {
                process = Process.Start(start) ?? throw new TransformWorkerException("the transform worker process did not start");
            }
            catch (Exception e)
            {
                progress.Dispose();
                TryDelete(progressPath);
                if (e is System.ComponentModel.Win32Exception)
                    throw new TransformWorkerException($"the transform worker could not be started ({start.FileName} {workerPath}): {e.Message}", e);
                throw;
            }
            var worker = new TransformWorker(process, logger, progress, progressPath);
            process.ErrorDataReceived += (_, e) => worker.OnErrorLine(e.Data);
            process.BeginErrorReadLine();
            _ = worker.ReadFramesAsync();

            try
            {
                WorkerWire.WriteObject(worker._send, init);
                worker._send.SendTo(worker._input);
                worker.AwaitReady(options.StartTimeout, init);
                TryDelete(progressPath);
                return worker;
            }
            catch (IOException e)
            {
                var exit = worker.ExitAsync().GetAwaiter().GetResult();
                worker.Dispose();
                throw new TransformWorkerException($"the transform worker exited with {exit} while starting", e);
            }
            catch
            {
                worker.Dispose();
                throw;
            }
        }

        private void AwaitReady(TimeSpan timeout, JsonObject init)
        {
            var (next, ended) = NextFrameAsync(timeout, CancellationToken.None).GetAwaiter().GetResult();
            var frame = next as JsonObject;
            if (next is WorkerWire.Result)
                throw new TransformWorkerException($"the transform worker answered '{WorkerMessages.Result}' instead of '{WorkerMessages.Ready}'");
            if (frame is not null && (string?)frame["t"] == WorkerMessages.Ready) return;
            if (frame is not null && (string?)frame["t"] == WorkerMessages.InitFailed)
            {
                var reason = (string?)frame["reason"] ?? "no reason given";
                if ((string?)frame["stage"] == "initialize")
                {
                    var kind = reason.StartsWith(nameof(TransformFailureKind.Overran), StringComparison.Ordinal)
                        ? TransformFailureKind.Overran : TransformFailureKind.Threw;
                    throw new TransformInitializationException(kind, $"in the transform worker: {reason}");
                }
                // Refused as in process: the same loader said why.
                throw new TransformLoadException((string)init["package"]!, (string)init["version"]!, reason);
            }
            if (ended)
                throw new TransformWorkerException($"the transform worker exited with {ExitAsync().GetAwaiter().GetResult()} while starting");
            if (frame is null)
            {
                KillAsync().GetAwaiter().GetResult();
                throw new TransformWorkerException($"the transform worker did not load and initialize the transform within {timeout.TotalSeconds:0} s; it was killed");
            }
            throw new TransformWorkerException($"the transform worker answered '{frame["t"]}' instead of '{WorkerMessages.Ready}'");
        }

        /// <summary>Sends the changes at <paramref name="indexes"/> as one batch frame (one write, one flush); returns its sequence number.</summary>
        public int SendBatch(IReadOnlyList<ChangeEvent> changes, IReadOnlyList<int> indexes)
        {
            var seq = ++_seq;
            WorkerWire.WriteBatch(_send, seq, changes, indexes);
            _send.SendTo(_input);
            return seq;
        }

        /// <summary>
        /// The next result within <paramref name="timeout"/> (none: only one that has arrived): the result, or
        /// null with ended = true when the worker is gone, false on a timeout.
        /// </summary>
        public async Task<(WorkerWire.Result? Frame, bool Ended)> NextResultAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            var (frame, ended) = await NextFrameAsync(timeout, cancellationToken).ConfigureAwait(false);
            return frame switch
            {
                null => (null, ended),
                WorkerWire.Result result => (result, false),
                JsonObject other => throw new TransformWorkerException($"the transform worker sent '{other["t"]}' where a result was expected"),
                _ => throw new InvalidOperationException(),
            };
        }

        private async Task<(object? Frame, bool Ended)> NextFrameAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            if (_results.Reader.TryRead(out var ready)) return (ready, false);
            if (_results.Reader.Completion.IsCompleted) return (null, true);
            if (timeout <= TimeSpan.Zero) return (null, false);
            using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timer.CancelAfter(timeout);
            try
            {
                if (await _results.Reader.WaitToReadAsync(timer.Token).ConfigureAwait(false) && _results.Reader.TryRead(out var frame))
                    return (frame, false);
                return (null, true);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return (null, false);
            }
        }

        /// <summary>Reads the worker's frames until its standard output ends; log lines go to the logger at once.</summary>
        private async Task ReadFramesAsync()
        {
            var output = new FrameReader(_process.StandardOutput.BaseStream);
            try
            {
                // Decoded here, as they arrive, a run of them per read.
                while (await output.ReadAsync().ConfigureAwait(false) is { } frame)
                {
                    switch (WorkerWire.MessageType(frame.Span))
                    {
                        case WorkerMessages.Result:
                            _results.Writer.TryWrite(WorkerWire.ReadResult(frame.Span));
                            break;
                        case WorkerMessages.Log:
                            Log(WorkerWire.ParseObject(frame.Span));
                            break;
                        default:
                            _results.Writer.TryWrite(WorkerWire.ParseObject(frame.Span));
                            break;
                    }
                }
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ObjectDisposedException)
            {
                _readFailure = e;
            }
            _results.Writer.TryComplete();
        }

        private void Log(JsonObject frame)
        {
            var template = (string?)frame["template"] ?? "";
            var values = (frame["values"] as JsonArray)?.Select(v => (object?)(string?)v).ToArray() ?? [];
            switch ((string?)frame["level"])
            {
                case "debug": _logger.Debug(template, values); break;
                case "warning": _logger.Warning(template, values); break;
                default: _logger.Info(template, values); break;
            }
        }

        private void OnErrorLine(string? line)
        {
            if (line is null) return;
            if (line.Length > MaxLineChars) line = line[..MaxLineChars] + "...";
            lock (_tail)
            {
                if (_head.Count < HeadLines)
                {
                    _head.Add(line);
                    return;
                }
                _tail.Enqueue(line);
                if (_tail.Count > TailLines)
                {
                    _tail.Dequeue();
                    _skipped++;
                }
            }
        }

        /// <summary>Waits for the process to end (killing it after a grace period) and says how it ended, with its last words on standard error.</summary>
        public async Task<string> ExitAsync()
        {
            using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                await KillAsync().ConfigureAwait(false);
                return "no exit after closing its output (killed)";
            }
            string words;
            lock (_tail)
            {
                var lines = _head.Concat(_skipped > 0 ? [$"... ({_skipped} more lines)"] : []).Concat(_tail).ToList();
                words = lines.Count == 0 ? "" : "; its standard error ended with:\n   " + string.Join("\n   ", lines);
            }
            var malformed = _readFailure is InvalidDataException bad ? $" (its output was malformed: {bad.Message})" : "";
            return $"code {_process.ExitCode} ({Explain(_process.ExitCode)}){malformed}{words}";
        }

        private static string Explain(int code) => code switch
        {
            0 => "it stopped by itself: Environment.Exit(0)?",
            134 => "SIGABRT: a stack overflow, an unhandled exception on a thread of the transform, or another fatal runtime error",
            137 => "SIGKILL: killed, e.g. by the kernel's out-of-memory killer",
            139 => "SIGSEGV: a crash in native code",
            152 => "SIGXCPU: its CPU-time limit, transform.limits.cpuSeconds, was reached",
            > 128 and < 160 => $"ended by signal {code - 128}",
            _ => $"Environment.Exit({code}) in the transform?",
        };

        public async Task KillAsync()
        {
            try
            {
                if (!_process.HasExited) _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                // Never started or already reaped.
            }
        }

        public void Dispose()
        {
            try
            {
                _input.Dispose(); // end of input: the worker finishes and exits
                if (!_process.WaitForExit(TimeSpan.FromSeconds(2))) _process.Kill(entireProcessTree: true);
            }
            catch (Exception e) when (e is InvalidOperationException or IOException)
            {
                // Already gone.
            }
            _process.Dispose();
            Progress.Dispose();
            TryDelete(_progressPath);
        }

        private static void TryDelete(string path)
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Mapped still (Windows) or gone: a leftover in the temp folder at worst.
            }
        }

        /// <summary>The dotnet host that runs the worker's assembly, the one that runs this process when possible.</summary>
        private static string DotnetHost()
        {
            var exe = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
            if (Environment.ProcessPath is { } self && Path.GetFileName(self) == exe) return self;
            if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath)) return hostPath;
            // The runtime lives in <root>/shared/Microsoft.NETCore.App/<version>/, the host in <root>.
            var root = Path.GetFullPath(Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
            var candidate = Path.Combine(root, exe);
            return File.Exists(candidate) ? candidate : exe;
        }
    }
}
