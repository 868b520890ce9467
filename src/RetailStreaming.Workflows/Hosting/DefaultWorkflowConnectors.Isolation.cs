using RetailStreaming.Definitions;
using RetailStreaming.TransformHost;
using RetailStreaming.TransformHost.Isolation;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows.Hosting;

/// <summary><c>transform.isolation: process</c>: the transform in a worker process.</summary>
public sealed partial class DefaultWorkflowConnectors
{
    private IWorkflowTransform CreateProcessTransform(WorkflowDefinition definition, ITransformLogger logger)
    {
        var t = definition.Transform;
        var context = new TransformContext(definition.Id, definition.Client, t.Version, t.Settings, logger);
        var runner = new IsolatedTransformRunner(_packages, t.Package, t.Type, context, t.TimeBudget,
            new IsolatedTransformOptions { MemoryMb = t.Limits.MemoryMb, CpuSeconds = t.Limits.CpuSeconds });
        try
        {
            // Load and Initialize failures are refused as in process (TransformLoadException,
            // TransformInitializationException); a worker that dies while starting too: the workflow
            // then restarts with its backoff and shows the reason, instead of starting workers in a loop.
            runner.Start();
        }
        catch
        {
            runner.Dispose();
            throw;
        }
        return new ProcessTransform(runner, t.Version);
    }

    /// <summary>
    /// The worker process as the transform actor sees it. An overrun or a dead worker fails its change
    /// alone (dead-lettered with the reason) and is never a quarantine: the worker was killed or is gone,
    /// and a new one runs the next changes. A worker that cannot be restarted fails the batch (the stream
    /// restarts from its checkpoint, with backoff).
    /// </summary>
    private sealed class ProcessTransform(IsolatedTransformRunner runner, string version) : IWorkflowTransform
    {
        public string Version => version;

        public async Task<TransformOutcome> RunAsync(ChangeEvent change, CancellationToken cancellationToken) =>
            Outcome((await runner.RunBatchAsync([change], cancellationToken))[0]);

        public async Task<IReadOnlyList<TransformOutcome>> RunBatchAsync(IReadOnlyList<ChangeEvent> changes, CancellationToken cancellationToken)
        {
            var results = await runner.RunBatchAsync(changes, cancellationToken);
            var outcomes = new TransformOutcome[results.Count];
            for (var i = 0; i < results.Count; i++) outcomes[i] = Outcome(results[i]);
            return outcomes;
        }

        private static TransformOutcome Outcome(TransformResult result) => result switch
        {
            TransformResult.Ok ok => TransformOutcome.Ok(ok.Outputs),
            TransformResult.Failed f => TransformOutcome.Failed($"{f.Kind}: {f.Reason}"),
            var other => TransformOutcome.Failed($"unexpected transform result {other.GetType().Name}"),
        };

        public void Dispose() => runner.Dispose();
    }
}
