using RetailStreaming.Definitions;
using RetailStreaming.TransformHost;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Hosting;

public sealed partial class DefaultWorkflowConnectors
{
    private TransformLoader _loader = null!;
    private TransformPackageStore _packages = null!;

    /// <summary>The node's transform slots, shared by every workflow's transform (see <see cref="TransformScheduler"/>).</summary>
    public TransformScheduler TransformSlots { get; }

    private void InitializeTransforms(string packageDirectory, string cacheDirectory, ITransformPackageSource? publishedPackages)
    {
        _packages = new TransformPackageStore(packageDirectory, cacheDirectory, publishedPackages);
        _loader = new TransformLoader(_packages);
    }

    /// <inheritdoc />
    public IWorkflowTransform CreateTransform(WorkflowDefinition definition, ITransformLogger logger)
    {
        var t = definition.Transform;
        if (t.Isolation == TransformDefinition.Process) return CreateProcessTransform(definition, logger);
        var loaded = _loader.Load(t.Package, t.Version, t.Type);
        var context = new TransformContext(definition.Id, definition.Client, t.Version, t.Settings, logger);
        var runner = new TransformRunner(loaded, context, t.TimeBudget, scheduler: TransformSlots);
        try
        {
            runner.Initialize();
        }
        catch
        {
            runner.Dispose();
            throw;
        }
        return new RunnerTransform(runner, t.Version);
    }

    /// <summary>The transform host's runner as the transform actor sees it.</summary>
    private sealed class RunnerTransform(TransformRunner runner, string version) : IWorkflowTransform
    {
        public string Version => version;

        public async Task<TransformOutcome> RunAsync(ChangeEvent change, CancellationToken cancellationToken) =>
            Outcome(await runner.RunAsync(change));

        public async Task<IReadOnlyList<TransformOutcome>> RunBatchAsync(IReadOnlyList<ChangeEvent> changes, CancellationToken cancellationToken)
        {
            var results = await runner.RunBatchAsync(changes);
            var outcomes = new TransformOutcome[results.Count];
            for (var i = 0; i < results.Count; i++) outcomes[i] = Outcome(results[i]);
            return outcomes;
        }

        private static TransformOutcome Outcome(TransformResult result) => result switch
        {
            TransformResult.Ok ok => TransformOutcome.Ok(ok.Outputs, ok.PayloadJson),
            TransformResult.Failed f => TransformOutcome.Failed(
                $"{f.Kind}: {f.Reason}", overran: f.Kind is TransformFailureKind.Overran or TransformFailureKind.Quarantined),
            var other => TransformOutcome.Failed($"unexpected transform result {other.GetType().Name}"),
        };

        public void Dispose() => runner.Dispose();
    }
}
