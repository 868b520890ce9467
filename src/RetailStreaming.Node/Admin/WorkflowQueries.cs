using Akka.Actor;
using Akka.Hosting;
using RetailStreaming.Store;
using RetailStreaming.Workflows.Hosting;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Node.Admin;

/// <summary>
/// Answers for the whole cluster, not for the node asked: the list of workflows comes from the
/// platform store's registry, and each workflow's live status from its entity through the
/// shard region, wherever in the cluster it runs.
/// </summary>
public sealed class WorkflowQueries(IWorkflowRegistry registry, IRequiredActor<WorkflowRegion> region, NodeOptions options)
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);
    private readonly Workflows.WorkflowSettings _settings = options.Workflows;

    /// <summary>The status of every workflow (of one client when <paramref name="clientId"/> is set).</summary>
    public async Task<IReadOnlyList<WorkflowView>> ListAsync(string? clientId, CancellationToken ct)
    {
        var entries = await registry.ListAsync(clientId, ct);
        var shardRegion = await region.GetAsync(ct);
        var views = await Task.WhenAll(entries.Select(e => StatusAsync(shardRegion, e, ct)));
        return views;
    }

    /// <summary>The ids of the workflows a caller may see (of one client when <paramref name="clientId"/> is set).</summary>
    public async Task<IEnumerable<string>> VisibleIdsAsync(string? clientId, CancellationToken ct) =>
        (await registry.ListAsync(clientId, ct)).Select(e => e.WorkflowId);

    /// <summary>One workflow's status, or null when there is no such workflow (or it is another client's).</summary>
    public async Task<WorkflowView?> GetAsync(string workflowId, string? clientId, CancellationToken ct)
    {
        if (await FindAsync(workflowId, clientId, ct) is not { } entry) return null;
        return await StatusAsync(await region.GetAsync(ct), entry, ct);
    }

    /// <summary>
    /// A workflow's registry entry, or null when there is no such workflow (or it is another client's).
    /// A deleted workflow is found: its status (deleted), history and dead letters stay readable, and
    /// its entity refuses every change.
    /// </summary>
    public async Task<WorkflowEntry?> FindAsync(string workflowId, string? clientId, CancellationToken ct) =>
        await registry.GetAsync(workflowId, ct) is { } entry && (clientId is null || entry.ClientId == clientId)
            ? entry
            : null;

    /// <summary>A workflow's definition versions, from its entity wherever it runs.</summary>
    public async Task<WorkflowReplies.History> HistoryAsync(string workflowId, CancellationToken ct) =>
        await (await region.GetAsync(ct)).Ask<WorkflowReplies.History>(new WorkflowCommands.GetHistory(workflowId), AskTimeout, ct);

    /// <summary>
    /// Sends a command to a workflow and waits for its answer; long enough for a pause, which
    /// drains the stream first (bounded by the drain timeout).
    /// </summary>
    public async Task<object> AskAsync(IWithWorkflowId command, CancellationToken ct) =>
        await (await region.GetAsync(ct)).Ask<object>(command, _settings.DrainTimeout + TimeSpan.FromSeconds(30), ct);

    /// <summary>Applies a definition through the workflow's entity.</summary>
    public async Task<object> ApplyAsync(string workflowId, string yaml, string fileName, CancellationToken ct) =>
        await (await region.GetAsync(ct)).Ask<object>(
            new WorkflowCommands.ApplyDefinition(workflowId, yaml, fileName), TimeSpan.FromSeconds(60), ct);

    private static async Task<WorkflowView> StatusAsync(IActorRef shardRegion, WorkflowEntry entry, CancellationToken ct)
    {
        try
        {
            var status = await shardRegion.Ask<WorkflowStatus>(new WorkflowCommands.GetStatus(entry.WorkflowId), AskTimeout, ct);
            return new WorkflowView(entry.WorkflowId, entry.ClientId, entry.CreatedAt, status, null);
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
        {
            return new WorkflowView(entry.WorkflowId, entry.ClientId, entry.CreatedAt, null,
                $"no answer from the workflow within {AskTimeout.TotalSeconds:0}s");
        }
    }
}

/// <summary>A workflow as the admin API shows it.</summary>
/// <param name="WorkflowId">The workflow id.</param>
/// <param name="ClientId">The client owning it.</param>
/// <param name="CreatedAt">When it was first applied.</param>
/// <param name="Status">Its live status, or null when its entity did not answer.</param>
/// <param name="Problem">Why there is no status.</param>
public sealed record WorkflowView(string WorkflowId, string ClientId, DateTimeOffset CreatedAt, WorkflowStatus? Status, string? Problem);
