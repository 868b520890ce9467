using System.Text.Json.Nodes;
using RetailStreaming.Definitions;
using RetailStreaming.Store;
using RetailStreaming.Workflows;
using RetailStreaming.Workflows.Regress;
using static RetailStreaming.Node.Admin.AdminApi;

namespace RetailStreaming.Node.Admin;

/// <summary>
/// <c>POST /api/regress</c>: runs every active workflow's recorded samples (or one workflow's) through
/// the transform version its current definition names, on this node's build, and reports what
/// differs. <c>GET /api/regress/samples</c>: a workflow's recorded samples, as stored (to keep them
/// as fixtures). Operators only: the samples hold client data.
/// </summary>
internal static class RegressRoutes
{
    public static void MapRegressRoutes(this RouteGroupBuilder api)
    {
        var regress = api.MapGroup("/regress").OperatorOnly();

        regress.MapPost("", async (string? workflow, WorkflowQueries queries, IWorkflowRegistry registry, PlatformStore store,
            IWorkflowConnectors connectors, HttpContext http) =>
        {
            var ct = http.RequestAborted;
            IReadOnlyList<string> ids;
            if (workflow is not null)
            {
                if (await queries.FindAsync(workflow, null, ct) is not { Deleted: false })
                    return NoSuchWorkflow(workflow);
                ids = [workflow];
            }
            else
            {
                ids = (await registry.ListAsync(null, ct)).Select(e => e.WorkflowId).ToList();
            }

            // One workflow after the other: a regress run must not take every core of a node that also runs workflows.
            var reports = new List<RegressReport>();
            foreach (var id in ids)
                reports.Add(await RunAsync(id, queries, store, connectors, ct));
            return Results.Ok(new
            {
                allSame = reports.All(r => r.AllSame),
                samples = reports.Sum(r => r.Samples),
                workflows = reports,
            });
        });

        regress.MapGet("/samples", async (string? workflow, WorkflowQueries queries, PlatformStore store, HttpContext http) =>
        {
            if (workflow is null)
                return Problem(400, "missing workflow", "Name the workflow: GET /api/regress/samples?workflow=<id>.");
            if (await queries.FindAsync(workflow, null, http.RequestAborted) is null)
                return NoSuchWorkflow(workflow);
            var definition = await CurrentDefinitionAsync(workflow, queries, http.RequestAborted);
            var samples = await store.RegressSamples.ListAsync(workflow, cancellationToken: http.RequestAborted);
            return Results.Ok(new
            {
                workflowId = workflow,
                transformPackage = definition?.Transform.Package,
                transformVersion = definition?.Transform.Version,
                settings = definition?.Transform.Settings,
                samples = samples.Select(s => new
                {
                    s.Id, s.Position, s.Table, s.Operation, s.TransformPackage, s.TransformVersion, s.RecordedAt,
                    key = JsonNode.Parse(s.Key),
                    input = JsonNode.Parse(s.InputJson),
                    outputs = JsonNode.Parse(s.OutputsJson),
                }),
            });
        });
    }

    private static async Task<WorkflowDefinition?> CurrentDefinitionAsync(string id, WorkflowQueries queries, CancellationToken ct)
    {
        var history = await queries.HistoryAsync(id, ct);
        return history.Versions.Count > 0 && WorkflowDefinitionReader.TryParse(history.Versions[^1].Yaml, history.Versions[^1].FileName, out var d, out _)
            ? d
            : null;
    }

    private static async Task<RegressReport> RunAsync(string id, WorkflowQueries queries, PlatformStore store, IWorkflowConnectors connectors, CancellationToken ct)
    {
        Workflows.Protocol.WorkflowReplies.History history;
        try
        {
            history = await queries.HistoryAsync(id, ct);
        }
        catch (Exception e) when (e is Akka.Actor.AskTimeoutException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return Unchecked(id, "the workflow did not answer with its definition; try again");
        }
        if (history.Versions.Count == 0)
            return Unchecked(id, "it has no definition");
        var current = history.Versions[^1];
        if (!WorkflowDefinitionReader.TryParse(current.Yaml, current.FileName, out var definition, out var errors) || definition is null)
            return Unchecked(id, $"its current definition (version {current.Version}) no longer validates: {string.Join("; ", errors.Select(e => e.ToString()))}");
        var samples = await store.RegressSamples.ListAsync(id, cancellationToken: ct);
        return await RegressRunner.RunAsync(id, definition, samples, connectors, ct);
    }

    private static RegressReport Unchecked(string id, string why) => new(id, null, null, 0, 0, 0, 0, 0, why, []);
}
