using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using RetailStreaming.TransformHost;
using RetailStreaming.TransformHost.Isolation;
using RetailStreaming.Transforms;

namespace RetailStreaming.TransformWorker;

/// <summary>
/// One workflow's transform in a process of its own (<c>transform.isolation: process</c>). The node
/// starts it, sends an init frame and then batches of changes on standard input, and reads one
/// result per change on standard output, a run of them per write (<see cref="WorkerFrames"/>,
/// <see cref="WorkerWire"/>); before each change it notes which one it runs (<see cref="WorkerProgress"/>). Whatever the transform does to
/// this process (an OutOfMemoryException, a stack overflow, Environment.Exit, an endless loop the
/// node kills) ends this process only; the node dead-letters the change and starts another worker.
/// </summary>
internal static class Program
{
    /// <summary>A run of results is sent at the latest when its first one is this old, or when it is this big.</summary>
    private static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(20);
    private const int FlushBytes = 1024 * 1024;

    private static readonly object WriteLock = new();
    private static readonly FrameBuffer Output = new();
    private static Stream _out = null!;
    private static bool _inBatch;

    private static int Main()
    {
        // The frames own the real standard streams: what the transform writes to the console goes to
        // standard error (the node keeps its last lines for the reason of a crash), and it reads nothing.
        var input = new FrameReader(Console.OpenStandardInput());
        _out = Console.OpenStandardOutput();
        Console.SetOut(Console.Error);
        Console.SetIn(TextReader.Null);

        if (input.Read() is not { } initFrame || WorkerWire.MessageType(initFrame.Span) != WorkerMessages.Init)
        {
            Console.Error.WriteLine("The transform worker expected an init frame on standard input; it is started by the node.");
            return 2;
        }
        var init = WorkerWire.ParseObject(initFrame.Span);

        ProcessLimits.Apply((int?)init["cpuSeconds"]);
        using var progress = init["progressPath"] is JsonValue path ? WorkerProgress.Open((string)path!) : null;

        TransformRunner runner;
        try
        {
            runner = Load(init);
        }
        catch (TransformLoadException e)
        {
            Send(new JsonObject { ["t"] = WorkerMessages.InitFailed, ["stage"] = "load", ["reason"] = e.Reason });
            return 3;
        }
        catch (TransformInitializationException e)
        {
            Send(new JsonObject { ["t"] = WorkerMessages.InitFailed, ["stage"] = "initialize", ["reason"] = $"{e.Kind}: {e.Message}" });
            return 3;
        }
        Send(new JsonObject { ["t"] = WorkerMessages.Ready, ["version"] = runner.Context.TransformVersion });

        while (input.Read() is { } frame)
        {
            if (WorkerWire.MessageType(frame.Span) != WorkerMessages.Batch)
            {
                Console.Error.WriteLine($"The transform worker got an unexpected frame '{WorkerWire.MessageType(frame.Span)}'.");
                return 2;
            }
            var (seq, changes) = WorkerWire.ReadBatch(frame.Span);
            lock (WriteLock) _inBatch = true;
            var firstPending = 0L;
            for (var i = 0; i < changes.Count; i++)
            {
                // Before each change, its index and start, where the node reads them: it judges the
                // budget from there and knows which change was running if this process dies.
                var started = Stopwatch.GetTimestamp();
                progress?.Running(seq, i, started);
                // On this thread: no hand-over per change; the node is the watchdog (it kills this process).
                var result = runner.RunOnCallingThread(changes[i]);
                var recycle = result is TransformResult.Failed f
                              && (f.Kind is TransformFailureKind.Overran or TransformFailureKind.Quarantined
                                  || f.ExceptionType == typeof(OutOfMemoryException).FullName);
                lock (WriteLock)
                {
                    WorkerWire.WriteResult(Output, result, recycle);
                    if (firstPending == 0) firstPending = started;
                    // Results go out a run at a time: at the batch's end, or sooner in a long batch.
                    if (recycle || Output.Length >= FlushBytes || Stopwatch.GetElapsedTime(firstPending) >= FlushInterval)
                    {
                        Output.SendTo(_out);
                        firstPending = 0;
                    }
                }
                // After an OutOfMemoryException the heap may still be full of the transform's objects,
                // and after an overrun the runner is quarantined: a fresh process serves the next change.
                if (recycle) return 4;
            }
            progress?.Done(seq);
            lock (WriteLock)
            {
                _inBatch = false;
                Output.SendTo(_out);
            }
        }
        runner.Dispose();
        return 0; // the node closed standard input: stop
    }

    private static TransformRunner Load(JsonObject init)
    {
        var package = (string)init["package"]!;
        var version = (string)init["version"]!;               // as the definition spells it (the transform is told this one)
        var packageVersion = (string)init["packageVersion"]!; // normalized, as the node's store found it
        var packagePath = (string)init["packagePath"]!;
        // The node has resolved the version (published or from its folder) to this one .nupkg and
        // extracted it into the shared cache; loading it again here checks the same hash.
        var store = new TransformPackageStore(Path.GetDirectoryName(packagePath)!, (string)init["cacheDirectory"]!,
            new SinglePackageSource(package, packageVersion, packagePath));
        var loaded = new TransformLoader(store).Load(package, packageVersion, (string)init["type"]!);
        var settings = init["settings"]!.AsObject().ToDictionary(p => p.Key, p => (string?)p.Value ?? "", StringComparer.Ordinal);
        var context = new TransformContext((string)init["workflowId"]!, (string)init["clientId"]!, version, settings, new FrameLogger());
        // The node enforces the budget (it kills this process on an overrun); this runner's own budget
        // only bounds Initialize, as a backstop longer than the node's.
        var budget = TimeSpan.FromMilliseconds((double)init["timeBudgetMs"]!) * 2 + TimeSpan.FromSeconds(5);
        var runner = new TransformRunner(loaded, context, budget);
        try
        {
            runner.Initialize();
        }
        catch
        {
            runner.Dispose();
            throw;
        }
        return runner;
    }

    /// <summary>
    /// Sends a message: at once between batches; during one, with the batch's results (in order with
    /// them), so a log line costs no write of its own.
    /// </summary>
    private static void Send(JsonObject frame)
    {
        lock (WriteLock)
        {
            WorkerWire.WriteObject(Output, frame);
            if (!_inBatch) Output.SendTo(_out);
        }
    }

    /// <summary>The transform's log lines, sent to the node, which writes them with the workflow's context.</summary>
    private sealed class FrameLogger : ITransformLogger
    {
        public void Debug(string messageTemplate, params object?[] values) => Write("debug", messageTemplate, values);
        public void Info(string messageTemplate, params object?[] values) => Write("info", messageTemplate, values);
        public void Warning(string messageTemplate, params object?[] values) => Write("warning", messageTemplate, values);

        private static void Write(string level, string template, object?[] values)
        {
            var array = new JsonArray();
            foreach (var value in values ?? [])
                array.Add(value is null ? null : Convert.ToString(value, CultureInfo.InvariantCulture));
            Send(new JsonObject { ["t"] = WorkerMessages.Log, ["level"] = level, ["template"] = template, ["values"] = array });
        }
    }

    /// <summary>The one .nupkg the node chose, served as "published", so the folder's other files do not matter.</summary>
    private sealed class SinglePackageSource(string packageId, string version, string path) : ITransformPackageSource
    {
        // Only this package's version is ever asked for: the worker loads nothing else.
        public string? FindSha256(string id, string v) => Matches(id, v) ? TransformPackageStore.Sha256Of(File.ReadAllBytes(path)) : null;
        public byte[] Read(string id, string v) => File.ReadAllBytes(path);
        private bool Matches(string id, string v) =>
            string.Equals(id, packageId, StringComparison.OrdinalIgnoreCase) && v == version;
    }
}

/// <summary>The worker's own limits, set before any transform code runs.</summary>
internal static partial class ProcessLimits
{
    private const int RlimitCpu = 0;   // Linux resource numbers
    private const int RlimitCore = 4;

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, ref RLimit limit);

    /// <summary>
    /// No core files (a crash is reported by its exit code and standard error), and at most
    /// <paramref name="cpuSeconds"/> of CPU time (RLIMIT_CPU: SIGXCPU past it ends the process).
    /// </summary>
    public static void Apply(int? cpuSeconds)
    {
        if (!OperatingSystem.IsLinux()) return;
        var core = new RLimit { Current = 0, Max = 0 };
        SetRLimit(RlimitCore, ref core);
        if (cpuSeconds is { } seconds)
        {
            // The hard limit a little above: the kernel sends SIGKILL there if SIGXCPU was caught.
            var cpu = new RLimit { Current = (ulong)seconds, Max = (ulong)seconds + 5 };
            if (SetRLimit(RlimitCpu, ref cpu) != 0)
                Console.Error.WriteLine($"setrlimit(RLIMIT_CPU, {seconds}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }
}
