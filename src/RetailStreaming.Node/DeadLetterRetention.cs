using RetailStreaming.Store;
using Serilog;
using ILogger = Serilog.ILogger;

namespace RetailStreaming.Node;

/// <summary>
/// Dead letters hold client data (the input of the change, the refused record): they are purged
/// once older than <see cref="DeadLettersSection.Retention"/>, every <see cref="DeadLettersSection.PurgeInterval"/>.
/// Each purge is logged per workflow with the count and the cutoff, never the data. Every node
/// runs it; with several nodes on one store the deletes simply find less to do.
/// </summary>
public sealed class DeadLetterRetention(IDeadLetterStore store, NodeOptions options, TimeProvider? time = null, ILogger? logger = null) : BackgroundService
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private ILogger Log => (logger ?? Serilog.Log.Logger).ForContext("SourceContext", "RetailStreaming.DeadLetters.Retention");

    /// <summary>Purges what is older than the retention period now; returns the counts per workflow.</summary>
    public async Task<IReadOnlyList<PurgedDeadLetters>> PurgeOnceAsync(CancellationToken cancellationToken = default)
    {
        var cutoff = _time.GetUtcNow() - options.DeadLetters.Retention;
        var purged = await store.PurgeAsync(cutoff, cancellationToken);
        foreach (var p in purged)
            Log.ForContext("WorkflowId", p.WorkflowId)
                .Information("Retention: purged {Count} dead letter(s) of workflow {WorkflowId} stored before {Cutoff:O} (retention {Retention})",
                    p.Count, p.WorkflowId, cutoff, options.DeadLetters.Retention);
        return purged;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.DeadLetters.PurgeInterval, _time);
        do
        {
            try
            {
                await PurgeOnceAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The store may be briefly unreachable: try again at the next tick.
                Log.Warning(e, "Retention: purging dead letters failed; trying again in {Interval}", options.DeadLetters.PurgeInterval);
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
