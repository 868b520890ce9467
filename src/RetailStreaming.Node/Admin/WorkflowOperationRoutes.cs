using System.Text.Json.Serialization;
using RetailStreaming.Definitions;
using RetailStreaming.TransformHost;
using RetailStreaming.Workflows.Protocol;
using static RetailStreaming.Node.Admin.AdminApi;

namespace RetailStreaming.Node.Admin;

/// <summary>
/// Delete, replay, re-snapshot and promote: <c>DELETE /api/workflows/{id}</c>,
/// <c>POST /api/workflows/{id}/replay</c> and <c>/snapshot</c>, <c>GET /api/workflows/{id}/definition</c>
/// and <c>POST /api/promotions</c>. Every change is operator-only and audited (AdminApi's filters).
/// </summary>
internal static class WorkflowOperationRoutes
{
    public static void MapWorkflowOperationRoutes(this RouteGroupBuilder api)
    {
        api.MapDelete("/workflows/{id}", async (string id, HttpContext http, WorkflowQueries queries, RetailStreaming.Store.PlatformStore store) =>
        {
            if (await queries.FindAsync(id, null, http.RequestAborted) is null)
                return NoSuchWorkflow(id);
            var reply = await queries.AskAsync(new WorkflowCommands.Delete(id), http.RequestAborted);
            // Its regression samples hold client data and will never be run again.
            if (reply is WorkflowReplies.Deleted)
                await store.RegressSamples.DeleteAsync(id, http.RequestAborted);
            return reply switch
            {
                WorkflowReplies.Deleted { CaptureRemoved: true } d => Results.Ok(new
                {
                    workflowId = id, state = WorkflowRunState.Deleted, changed = d.Changed, checkpoint = d.Checkpoint,
                    captureRemoved = true, capture = d.CaptureDetail,
                }),
                // Deleted (it will not run again), but the client database still holds its capture: say so and what to run.
                WorkflowReplies.Deleted d => Results.Json(new
                {
                    error = "capture not removed", detail = d.CaptureError,
                    workflowId = id, state = WorkflowRunState.Deleted, changed = d.Changed, checkpoint = d.Checkpoint, captureRemoved = false,
                }, statusCode: 502),
                WorkflowReplies.LifecycleRefused r => Problem(409, "conflict", r.Reason),
                var other => Problem(500, "unexpected reply", other.GetType().Name),
            };
        }).OperatorOnly();

        api.MapPost("/workflows/{id}/replay", async (string id, string? from, HttpContext http, WorkflowQueries queries) =>
        {
            if (await queries.FindAsync(id, null, http.RequestAborted) is null)
                return NoSuchWorkflow(id);
            if (string.IsNullOrWhiteSpace(from))
                return Problem(400, "missing position", "Give the position to replay after: ?from=<position> (see GET /api/workflows/{id}), or ?from=earliest.");
            return await queries.AskAsync(new WorkflowCommands.Replay(id, from), http.RequestAborted) switch
            {
                WorkflowReplies.ReplayStarted r => Results.Ok(new { workflowId = id, state = "replaying", from = r.From, until = r.Until, earliest = r.Earliest }),
                WorkflowReplies.ReplayRefused r => Results.Json(new { error = "cannot replay", detail = r.Reason, earliest = r.Earliest }, statusCode: 409),
                WorkflowReplies.LifecycleRefused r => Problem(409, "conflict", r.Reason),
                var other => Problem(500, "unexpected reply", other.GetType().Name),
            };
        }).OperatorOnly();

        api.MapPost("/workflows/{id}/snapshot", async (string id, string? table, HttpContext http, WorkflowQueries queries) =>
        {
            if (await queries.FindAsync(id, null, http.RequestAborted) is null)
                return NoSuchWorkflow(id);
            return await queries.AskAsync(new WorkflowCommands.RequestSnapshot(id, string.IsNullOrWhiteSpace(table) ? null : table.Trim()), http.RequestAborted) switch
            {
                WorkflowReplies.SnapshotRequested r => Results.Json(new { workflowId = id, tables = r.Tables, snapshotIds = r.SnapshotIds }, statusCode: 202),
                WorkflowReplies.ReplayRefused r => Problem(409, "cannot snapshot", r.Reason),
                WorkflowReplies.LifecycleRefused r => Problem(409, "conflict", r.Reason),
                var other => Problem(500, "unexpected reply", other.GetType().Name),
            };
        }).OperatorOnly();

        // Exactly what runs: the current version's YAML as applied, and its transform package's content hash on this node.
        api.MapGet("/workflows/{id}/definition", async (string id, HttpContext http, WorkflowQueries queries, NodeOptions options) =>
        {
            if (await queries.FindAsync(id, ClientScope(http), http.RequestAborted) is not { } entry)
                return NoSuchWorkflow(id);
            var history = await queries.HistoryAsync(id, http.RequestAborted);
            if (history.Versions.Count == 0)
                return Problem(404, "no definition", $"Workflow '{id}' has no definition version yet.");
            var current = history.Versions[^1];
            WorkflowDefinitionReader.TryParse(current.Yaml, current.FileName, out var def, out _);
            return Results.Ok(new
            {
                workflowId = id,
                clientId = entry.ClientId,
                deleted = entry.Deleted,
                version = current.Version,
                appliedAt = current.AppliedAt,
                fileName = current.FileName,
                yaml = current.Yaml,
                transformPackage = def?.Transform.Package,
                transformVersion = def?.Transform.Version,
                contentHash = def is null ? null : Packages(options).ContentHash(def.Transform.Package, def.Transform.Version),
            });
        });

        api.MapPost("/promotions", async (bool? dryRun, HttpContext http, WorkflowQueries queries, NodeOptions options) =>
        {
            // Read here, not bound by the framework: a bad body must not be answered before the token is checked.
            PromotionRequest? request;
            try
            {
                request = await http.Request.ReadFromJsonAsync<PromotionRequest>(http.RequestAborted);
            }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
            {
                request = null;
            }
            if (request is null)
                return Problem(400, "invalid request", "Send a JSON body {yaml, fileName, transformPackage, transformVersion, contentHash}, as rsctl workflow promote does.");
            var fileName = string.IsNullOrWhiteSpace(request.FileName) ? "<promotion>" : request.FileName;
            WorkflowDefinition def;
            try
            {
                def = WorkflowDefinitionReader.Parse(request.Yaml ?? "", fileName);
            }
            catch (InvalidDefinitionException e)
            {
                return Results.Json(new { error = "invalid definition", errors = e.Errors.Select(x => x.ToString()) }, statusCode: 400);
            }
            var t = def.Transform;
            if (!string.Equals(t.Package, request.TransformPackage, StringComparison.OrdinalIgnoreCase) || t.Version != request.TransformVersion)
                return Problem(400, "package mismatch",
                    $"The definition names {t.Package} {t.Version}, the request {request.TransformPackage} {request.TransformVersion}; send both as the source node gave them.");
            var hash = Packages(options).ContentHash(t.Package, t.Version);
            if (hash is null)
                return Problem(404, "transform package missing",
                    $"This node has no {t.Package} {t.Version} in its package folder; publish that exact package here first, then promote again.");
            if (hash != request.ContentHash)
                return Problem(409, "transform package differs",
                    $"This node's {t.Package} {t.Version} has content hash {hash}, the source's {request.ContentHash}: the same version holds other code. " +
                    "Publish the source's package here (a version must never change), then promote again.");

            string? currentYaml = null;
            var currentVersion = 0;
            if (await queries.FindAsync(def.Id, null, http.RequestAborted) is { } existing)
            {
                if (existing.Deleted)
                    return Problem(409, "conflict", $"Workflow '{def.Id}' was deleted on this node; its id cannot be applied again.");
                var history = await queries.HistoryAsync(def.Id, http.RequestAborted);
                if (history.Versions.Count > 0) (currentYaml, currentVersion) = (history.Versions[^1].Yaml, history.Versions[^1].Version);
            }
            if (dryRun == true)
                return Results.Ok(new
                {
                    workflowId = def.Id, dryRun = true, applied = false, changed = currentYaml != def.Text,
                    currentVersion, currentYaml, contentHash = hash,
                });
            return await queries.ApplyAsync(def.Id, request.Yaml!, fileName, http.RequestAborted) switch
            {
                WorkflowReplies.DefinitionApplied a => Results.Ok(new { workflowId = def.Id, dryRun = false, applied = true, changed = true, version = a.Version, contentHash = hash }),
                WorkflowReplies.DefinitionUnchanged u => Results.Ok(new { workflowId = def.Id, dryRun = false, applied = false, changed = false, version = u.Version, contentHash = hash }),
                WorkflowReplies.DefinitionRejected r => Results.Json(new { error = "definition rejected", errors = r.Errors }, statusCode: 400),
                var other => Problem(500, "unexpected reply", other.GetType().Name),
            };
        }).OperatorOnly();
    }

    // Hashing reads the .nupkg only; nothing is extracted.
    private static TransformPackageStore Packages(NodeOptions options) => new(options.PackageDirectory, options.PackageCacheDirectory);
}

/// <summary>The body of <c>POST /api/promotions</c>: a definition exactly as it runs on the source cluster.</summary>
/// <param name="Yaml">The definition's YAML as applied there.</param>
/// <param name="FileName">Its file name there.</param>
/// <param name="TransformPackage">Its transform package.</param>
/// <param name="TransformVersion">Its transform package version.</param>
/// <param name="ContentHash">The content hash of that package on the source node; the target must hold the same.</param>
internal sealed record PromotionRequest(
    [property: JsonPropertyName("yaml")] string? Yaml,
    [property: JsonPropertyName("fileName")] string? FileName,
    [property: JsonPropertyName("transformPackage")] string? TransformPackage,
    [property: JsonPropertyName("transformVersion")] string? TransformVersion,
    [property: JsonPropertyName("contentHash")] string? ContentHash);
