using RetailStreaming.Workflows.Protocol;
using static RetailStreaming.Node.Admin.AdminApi;

namespace RetailStreaming.Node.Admin;

/// <summary>
/// Shadow runs: <c>POST /api/workflows/{id}/shadow?version=X</c> starts one, <c>DELETE</c> stops it,
/// <c>GET</c> reports it (counts of equal, different and failed changes and the first differences).
/// </summary>
internal static class WorkflowShadowRoutes
{
    public static void MapWorkflowShadowRoutes(this RouteGroupBuilder api)
    {
        api.MapPost("/workflows/{id}/shadow", async (string id, string? version, HttpContext http, WorkflowQueries queries) =>
        {
            if (await queries.FindAsync(id, null, http.RequestAborted) is null)
                return NoSuchWorkflow(id);
            if (string.IsNullOrWhiteSpace(version))
                return Problem(400, "missing version", "Give the candidate transform version: ?version=<version> (a published version of the workflow's package).");
            return Answer(await queries.AskAsync(new ShadowCommands.Start(id, version), http.RequestAborted));
        }).OperatorOnly();

        api.MapDelete("/workflows/{id}/shadow", async (string id, HttpContext http, WorkflowQueries queries) =>
            await queries.FindAsync(id, null, http.RequestAborted) is null
                ? NoSuchWorkflow(id)
                : Answer(await queries.AskAsync(new ShadowCommands.Stop(id), http.RequestAborted))).OperatorOnly();

        api.MapGet("/workflows/{id}/shadow", async (string id, HttpContext http, WorkflowQueries queries) =>
            await queries.FindAsync(id, ClientScope(http), http.RequestAborted) is null
                ? NoSuchWorkflow(id)
                : Answer(await queries.AskAsync(new ShadowCommands.GetReport(id), http.RequestAborted)));
    }

    private static IResult Answer(object reply) => reply switch
    {
        ShadowReport r => Results.Ok(r),
        WorkflowReplies.LifecycleRefused r => Problem(409, "conflict", r.Reason),
        var other => Problem(500, "unexpected reply", other.GetType().Name),
    };
}
