using System.Text;
using RetailStreaming.Definitions;
using RetailStreaming.Workflows.Protocol;
using static RetailStreaming.Node.Admin.AdminApi;

namespace RetailStreaming.Node.Admin;

/// <summary>The <c>/api/workflows</c> routes.</summary>
internal static class WorkflowRoutes
{
    public static void MapWorkflowRoutes(this RouteGroupBuilder api)
    {
        api.MapGet("/workflows", async (HttpContext http, WorkflowQueries queries) =>
            Results.Ok(await queries.ListAsync(ClientScope(http), http.RequestAborted)));

        api.MapGet("/workflows/{id}", async (string id, HttpContext http, WorkflowQueries queries) =>
            await queries.GetAsync(id, ClientScope(http), http.RequestAborted) is { } view
                ? Results.Ok(view)
                : NoSuchWorkflow(id));

        api.MapPost("/workflows", async (HttpContext http, WorkflowQueries queries) =>
        {
            var fileName = http.Request.Query["file"].FirstOrDefault() ?? "<request>";
            using var reader = new StreamReader(http.Request.Body, Encoding.UTF8);
            var yaml = await reader.ReadToEndAsync(http.RequestAborted);
            WorkflowDefinition def;
            try
            {
                // Validated here first so that an invalid file never reaches (nor creates) an entity.
                def = WorkflowDefinitionReader.Parse(yaml, fileName);
            }
            catch (InvalidDefinitionException e)
            {
                return Results.Json(new { error = "invalid definition", errors = e.Errors.Select(x => x.ToString()) }, statusCode: 400);
            }
            return DefinitionResult(await queries.ApplyAsync(def.Id, yaml, fileName, http.RequestAborted), null);
        }).OperatorOnly();

        api.MapGet("/workflows/{id}/history", async (string id, HttpContext http, WorkflowQueries queries) =>
        {
            if (await queries.FindAsync(id, ClientScope(http), http.RequestAborted) is not { } entry)
                return NoSuchWorkflow(id);
            var history = await queries.HistoryAsync(id, http.RequestAborted);
            var current = history.Versions.Count == 0 ? 0 : history.Versions[^1].Version;
            return Results.Ok(new
            {
                workflowId = id,
                clientId = entry.ClientId,
                paused = history.Paused,
                currentVersion = current,
                versions = history.Versions.Select(v =>
                {
                    // A version a newer validator refuses still shows, without its transform.
                    WorkflowDefinitionReader.TryParse(v.Yaml, v.FileName, out var d, out _);
                    return new
                    {
                        version = v.Version,
                        appliedAt = v.AppliedAt,
                        fileName = v.FileName,
                        atPosition = v.AtPosition,
                        transformPackage = d?.Transform.Package,
                        transformVersion = d?.Transform.Version,
                        current = v.Version == current,
                        yaml = v.Yaml,
                    };
                }),
                // transform.autoRollback: what rolled back by itself, and why.
                autoRollbacks = (history.AutoRollbacks ?? []).Select(r => new
                {
                    at = r.At,
                    fromVersion = r.FromVersion,
                    toVersion = r.ToVersion,
                    failed = r.Failed,
                    transformed = r.Transformed,
                    errorRate = r.Threshold,
                    window = r.Window.ToString(),
                    reason = r.Reason,
                }),
            });
        });

        api.MapPost("/workflows/{id}/pause", (string id, HttpContext http, WorkflowQueries queries) =>
            LifecycleAsync(id, http, queries, new WorkflowCommands.Pause(id))).OperatorOnly();
        api.MapPost("/workflows/{id}/resume", (string id, HttpContext http, WorkflowQueries queries) =>
            LifecycleAsync(id, http, queries, new WorkflowCommands.Resume(id))).OperatorOnly();
        api.MapPost("/workflows/{id}/restart", (string id, HttpContext http, WorkflowQueries queries) =>
            LifecycleAsync(id, http, queries, new WorkflowCommands.Restart(id))).OperatorOnly();

        api.MapPost("/workflows/{id}/rollback", async (string id, int? to, HttpContext http, WorkflowQueries queries) =>
        {
            if (await queries.FindAsync(id, null, http.RequestAborted) is null)
                return NoSuchWorkflow(id);
            var history = await queries.HistoryAsync(id, http.RequestAborted);
            var current = history.Versions.Count == 0 ? 0 : history.Versions[^1].Version;
            var target = to ?? current - 1;
            if (to is null && target < 1)
                return Problem(409, "nothing to roll back to", $"Workflow '{id}' has only version {current}; apply a new definition instead.");
            if (history.Versions.All(v => v.Version != target))
                return Problem(404, "no such version", $"Workflow '{id}' has no version {target} (its versions are 1..{current}); see GET /api/workflows/{id}/history.");
            return DefinitionResult(await queries.AskAsync(new WorkflowCommands.Rollback(id, target), http.RequestAborted), target);
        }).OperatorOnly();
    }

    private static async Task<IResult> LifecycleAsync(string id, HttpContext http, WorkflowQueries queries, IWithWorkflowId command)
    {
        if (await queries.FindAsync(id, null, http.RequestAborted) is null)
            return NoSuchWorkflow(id);
        return await queries.AskAsync(command, http.RequestAborted) switch
        {
            WorkflowReplies.Paused p => Results.Ok(new { workflowId = id, state = WorkflowRunState.Paused, changed = p.Changed, checkpoint = p.Checkpoint }),
            WorkflowReplies.Resumed r => Results.Ok(new { workflowId = id, state = WorkflowRunState.Running, changed = r.Changed, checkpoint = r.Checkpoint }),
            WorkflowReplies.Restarted r => Results.Ok(new { workflowId = id, state = WorkflowRunState.Starting, changed = true, checkpoint = r.Checkpoint }),
            WorkflowReplies.LifecycleRefused r => Problem(409, "conflict", r.Reason),
            var other => Problem(500, "unexpected reply", other.GetType().Name),
        };
    }

    private static IResult DefinitionResult(object reply, int? rolledBackTo) => reply switch
    {
        WorkflowReplies.DefinitionApplied a => Results.Ok(new { workflowId = a.WorkflowId, version = a.Version, applied = true, rolledBackTo }),
        WorkflowReplies.DefinitionUnchanged u => Results.Ok(new { workflowId = u.WorkflowId, version = u.Version, applied = false, rolledBackTo }),
        WorkflowReplies.DefinitionRejected r => Results.Json(new { error = "definition rejected", errors = r.Errors }, statusCode: 400),
        var other => Problem(500, "unexpected reply", other.GetType().Name),
    };
}
