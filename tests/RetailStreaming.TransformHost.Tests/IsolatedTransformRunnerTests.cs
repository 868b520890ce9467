using System.Diagnostics;
using RetailStreaming.TransformHost.Isolation;
using RetailStreaming.Transforms;
using static RetailStreaming.TransformHost.Tests.TestPackages;

namespace RetailStreaming.TransformHost.Tests;

/// <summary>
/// <c>transform.isolation: process</c>: real worker processes running the real packages. A transform
/// that exhausts memory, overflows its stack, exits or loops ends its worker only: this process goes
/// on, the change fails with its reason, the next changes are transformed by a new worker.
/// </summary>
public sealed class IsolatedTransformRunnerTests : IDisposable
{
    private static readonly int TimeFactor = TestTiming.Factor;
    private readonly TempFolder _temp = new();
    private readonly List<IDisposable> _owned = [];

    public void Dispose()
    {
        foreach (var owned in _owned) owned.Dispose();
        _temp.Dispose();
    }

    private IsolatedTransformRunner Isolated(string package, string type, TimeSpan? budget = null, IsolatedTransformOptions? options = null,
        IReadOnlyDictionary<string, string>? settings = null, ITransformLogger? logger = null)
    {
        var runner = new IsolatedTransformRunner(Store(_temp), package, type, Contexts.For(settings: settings, logger: logger),
            budget ?? TimeSpan.FromSeconds(5 * TimeFactor), options);
        _owned.Add(runner);
        return runner;
    }

    private static List<ChangeEvent> Fixtures() =>
        File.ReadAllLines(Path.Combine(RepositoryRoot(), "samples", "RetailStreaming.Samples.Retail", "fixtures", "retail.input.ndjson"))
            .Where(line => line.Length > 0).Select(ChangeEventJson.Deserialize).ToList();

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "RetailStreaming.sln"))) return dir.FullName;
        throw new InvalidOperationException($"RetailStreaming.sln not found above {AppContext.BaseDirectory}");
    }

    [Fact]
    public async Task The_sample_transform_gives_the_same_records_in_a_worker_as_in_process()
    {
        var settings = new Dictionary<string, string> { ["currency"] = "EUR", ["vatRate"] = "0.2" };
        var changes = Fixtures();
        using var inProcess = new TransformRunner(new TransformLoader(Store(_temp)).Load(SampleId, "1.0.0", SampleType),
            Contexts.For(settings: settings), TimeSpan.FromSeconds(5 * TimeFactor));
        inProcess.Initialize();
        var isolated = Isolated(SampleId, SampleType, settings: settings);
        isolated.Start();

        var expected = await inProcess.RunBatchAsync(changes);
        var actual = await isolated.RunBatchAsync(changes);

        Assert.Equal(changes.Count, actual.Count);
        Assert.Contains(expected, r => r is TransformResult.Ok { Outputs.Count: > 0 });
        for (var i = 0; i < changes.Count; i++)
            Assert.Equal(Describe(expected[i]), Describe(actual[i]));
        Assert.Equal(0, isolated.Restarts);
    }

    private static string Describe(TransformResult result) => result switch
    {
        TransformResult.Ok ok => string.Join("\n", ok.Outputs.Select(o => $"{o.Type} {o.Key} delete={o.IsDelete} {o.Payload.ToJsonString()}")),
        TransformResult.Failed failed => $"{failed.Kind}: {failed.Reason}",
        _ => result.ToString()!,
    };

    public static TheoryData<string, TransformFailureKind, string[]> Poisons => new()
    {
        { "OutOfMemoryTransform", TransformFailureKind.Threw, ["System.OutOfMemoryException", "limited to 128 MiB", "transform.limits.memoryMb"] },
        { "StackOverflowTransform", TransformFailureKind.WorkerExited, ["exited with code 134", "stack overflow", "Stack overflow."] },
        { "ExitingTransform", TransformFailureKind.WorkerExited, ["exited with code 3", "Environment.Exit(3)", "exiting on purpose"] },
        { "EndlessLoopTransform", TransformFailureKind.Overran, ["did not finish within its time budget of", "was killed"] },
    };

    [Theory]
    [MemberData(nameof(Poisons))]
    public async Task A_poison_change_fails_alone_and_a_new_worker_runs_the_next_ones(string type, TransformFailureKind kind, string[] reasons)
    {
        var budget = type == "EndlessLoopTransform" ? TimeSpan.FromSeconds(2) : TimeSpan.FromSeconds(10 * TimeFactor);
        var runner = Isolated(BadId, $"{BadNamespace}.{type}", budget, new IsolatedTransformOptions { MemoryMb = 128 });
        runner.Start();
        var firstWorker = runner.WorkerProcessId!.Value;
        var changes = new[]
        {
            Changes.Insert("tickets", ("id", 1L)), Changes.Insert("poison", ("id", 2L)),
            Changes.Insert("tickets", ("id", 3L)), Changes.Insert("tickets", ("id", 4L)),
        };

        var results = await runner.RunBatchAsync(changes);

        Assert.Equal(4, results.Count);
        Assert.Equal(changes[0].Position.Value, Assert.Single(Assert.IsType<TransformResult.Ok>(results[0]).Outputs).Key);
        var failed = Assert.IsType<TransformResult.Failed>(results[1]);
        Assert.Equal(kind, failed.Kind);
        foreach (var reason in reasons) Assert.Contains(reason, failed.Reason);
        Assert.Equal(changes[2].Position.Value, Assert.Single(Assert.IsType<TransformResult.Ok>(results[2]).Outputs).Key);
        Assert.Equal(changes[3].Position.Value, Assert.Single(Assert.IsType<TransformResult.Ok>(results[3]).Outputs).Key);

        // The worker was replaced, the first one is gone, and the new one goes on with the next batch.
        Assert.Equal(1, runner.Restarts);
        Assert.NotEqual(firstWorker, runner.WorkerProcessId);
        Assert.True(HasExited(firstWorker), $"the first worker (pid {firstWorker}) still runs");
        var next = await runner.RunBatchAsync([Changes.Insert("tickets", ("id", 5L))]);
        Assert.IsType<TransformResult.Ok>(Assert.Single(next));
        Assert.False(Process.GetCurrentProcess().HasExited);
    }

    [Fact]
    public async Task A_worker_past_its_cpu_time_limit_is_ended_and_replaced()
    {
        var runner = Isolated(BadId, $"{BadNamespace}.EndlessLoopTransform", TimeSpan.FromSeconds(60 * TimeFactor),
            new IsolatedTransformOptions { CpuSeconds = 1 });
        runner.Start();

        var results = await runner.RunBatchAsync([Changes.Insert("poison", ("id", 1L)), Changes.Insert("tickets", ("id", 2L))]);

        var failed = Assert.IsType<TransformResult.Failed>(results[0]);
        Assert.Equal(TransformFailureKind.WorkerExited, failed.Kind);
        Assert.Contains("SIGXCPU", failed.Reason);
        Assert.IsType<TransformResult.Ok>(results[1]);
        Assert.Equal(1, runner.Restarts);
    }

    [Fact]
    public void A_transform_that_ends_its_worker_on_every_start_is_refused_with_the_exit_code()
    {
        var runner = Isolated(BadId, $"{BadNamespace}.ExitOnInitializeTransform");

        var e = Assert.Throws<TransformWorkerException>(runner.Start);

        Assert.Contains("exited with code 7", e.Message);
        Assert.Contains("while starting", e.Message);
        Assert.Null(runner.WorkerProcessId);
    }

    [Fact]
    public void A_package_that_cannot_load_is_refused_as_in_process()
    {
        var missingType = Isolated(BadId, $"{BadNamespace}.NoSuchTransform");
        var e = Assert.Throws<TransformLoadException>(missingType.Start);
        Assert.Contains("NoSuchTransform", e.Message);
        Assert.StartsWith($"Transform package {BadId} 1.0.0: ", e.Message);

        var missingVersion = new IsolatedTransformRunner(Store(_temp), SampleId, SampleType,
            Contexts.For() with { TransformVersion = "9.9.9" }, TimeSpan.FromSeconds(5));
        _owned.Add(missingVersion);
        Assert.Contains("9.9.9", Assert.Throws<TransformLoadException>(missingVersion.Start).Message);
    }

    [Fact]
    public void Initialize_failures_are_reported_as_in_process()
    {
        var runner = Isolated(BadId, $"{BadNamespace}.InitializeThrowingTransform");

        var e = Assert.Throws<TransformInitializationException>(runner.Start);

        Assert.Equal(TransformFailureKind.Threw, e.Kind);
    }

    [Fact]
    public async Task The_transforms_log_lines_reach_the_hosts_logger()
    {
        var logger = new ListLogger();
        var runner = Isolated(BadId, $"{BadNamespace}.EchoTransform", logger: logger);
        runner.Start();
        var change = Changes.Insert("tickets", ("id", 1L));

        await runner.RunBatchAsync([change]);

        Assert.Contains(logger.Lines, l => l == $"debug Echoing {{Position}} {change.Position.Value}");
    }

    private static bool HasExited(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;
        }
    }

    private sealed class ListLogger : ITransformLogger
    {
        public List<string> Lines { get; } = [];
        public void Debug(string messageTemplate, params object?[] values) => Add("debug", messageTemplate, values);
        public void Info(string messageTemplate, params object?[] values) => Add("info", messageTemplate, values);
        public void Warning(string messageTemplate, params object?[] values) => Add("warning", messageTemplate, values);
        private void Add(string level, string template, object?[] values)
        {
            lock (Lines) Lines.Add($"{level} {template} {string.Join(",", values)}");
        }
    }
}
