using RetailStreaming.Store;

namespace RetailStreaming.Node.Admin;

/// <summary>
/// The admin HTTP API: workflows (status, figures, definitions and their history, lifecycle,
/// dead letters), tokens, cluster membership and sharding, each answered for the whole cluster
/// from any node. Every route but <c>/health</c> needs a bearer token: a missing, unknown or
/// revoked one gets 401. An operator token sees and does everything; a client token only reads
/// its client's workflows (another client's workflow is not found, anything else is 403).
/// Every mutating call is written to the audit log with its caller.
/// </summary>
public static class AdminApi
{
    private const string TokenItem = "rs.token";

    /// <summary>Maps the routes.</summary>
    public static void MapAdminApi(this WebApplication app)
    {
        app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
        // Liveness: the process answers. Workflow health is in each workflow's status, not here:
        // restarting the process does not cure a stalled workflow.
        app.MapGet("/health/live", () => Results.Ok(new { status = "live" }));
        // Ready once this node is an Up member of the cluster, i.e. its shard region can host and
        // reach workflows, and its journal answers; until then applying or querying a workflow
        // would wait or time out, and no checkpoint could be persisted.
        app.MapGet("/health/ready", async (Akka.Actor.ActorSystem system, Health.JournalProbe journal, HttpContext http) =>
        {
            var member = Akka.Cluster.Cluster.Get(system).SelfMember;
            if (member.Status != Akka.Cluster.MemberStatus.Up)
                return Results.Json(new { status = "not ready", member = member.Address.ToString(), memberStatus = member.Status.ToString() }, statusCode: 503);
            return await journal.ProblemAsync(http.RequestAborted) is { } problem
                ? Results.Json(new { status = "not ready", member = member.Address.ToString(), journal = problem }, statusCode: 503)
                : Results.Ok(new { status = "ready", member = member.Address.ToString(), journal = "ok" });
        });

        var api = app.MapGroup("/api")
            // Outermost, so that it sees the outcome of refused calls too.
            .AddEndpointFilter(async (ctx, next) =>
            {
                var result = await next(ctx);
                var http = ctx.HttpContext;
                if (!HttpMethods.IsGet(http.Request.Method))
                {
                    var status = result is IStatusCodeHttpResult { StatusCode: { } code } ? code : http.Response.StatusCode;
                    http.RequestServices.GetRequiredService<AdminAudit>().Record(
                        http.Request.Method, http.Request.Path + http.Request.QueryString, Caller(http), status);
                }
                return result;
            })
            // Inside the audit, so that a call that failed is logged with the status it got.
            .AddEndpointFilter(AdminFailures.InvokeAsync)
            .AddEndpointFilter(async (ctx, next) =>
            {
                var http = ctx.HttpContext;
                var header = http.Request.Headers.Authorization.ToString();
                if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                    return Problem(401, "missing token", "Send 'Authorization: Bearer <token>'.");
                var tokens = http.RequestServices.GetRequiredService<ITokenStore>();
                var token = await tokens.AuthenticateAsync(header["Bearer ".Length..].Trim(), http.RequestAborted);
                if (token is null)
                    return Problem(401, "invalid token", "The token is unknown or revoked; ask an operator for a new one.");
                http.Items[TokenItem] = token;
                return await next(ctx);
            });

        api.MapWorkflowRoutes();
        api.MapDeadLetterRoutes();
        api.MapWorkflowOperationRoutes();
        api.MapTokenRoutes();
        api.MapClusterRoutes();
        api.MapTransformRoutes();
        api.MapWorkflowShadowRoutes();
        api.MapPageRoutes();
        api.MapHealthRoutes();
        api.MapRegressRoutes();
    }

    /// <summary>Only operator tokens pass (a route, or every route of a group): client tokens are read-only and see nothing but their workflows.</summary>
    internal static TBuilder OperatorOnly<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (ctx, next) =>
            ClientScope(ctx.HttpContext) is null
                ? await next(ctx)
                : Problem(403, "forbidden", "This needs an operator token; client tokens are read-only and see only their client's workflows."));

    /// <summary>The authenticated caller (null before authentication).</summary>
    internal static TokenInfo? Caller(HttpContext http) => http.Items.TryGetValue(TokenItem, out var t) ? t as TokenInfo : null;

    /// <summary>Null for an operator (everything), else the client whose workflows the token may see.</summary>
    internal static string? ClientScope(HttpContext http)
    {
        var token = Caller(http)!;
        return token.Role == TokenStore.OperatorRole ? null : token.ClientId ?? "\0no-client";
    }

    internal static IResult Problem(int status, string error, string detail) =>
        Results.Json(new { error, detail }, statusCode: status);

    internal static IResult NoSuchWorkflow(string id) =>
        Problem(404, "no such workflow", $"There is no workflow '{id}'; list them with GET /api/workflows.");
}
