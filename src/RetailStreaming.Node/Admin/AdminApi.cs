using System.Text;
using RetailStreaming.Definitions;
using RetailStreaming.Store;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Node.Admin;

/// <summary>
/// The admin HTTP API (first cut): workflows and their figures for the whole cluster, applying a
/// definition, and a workflow's dead letters. Every route but <c>/health</c> needs a bearer token:
/// an operator token sees and does everything; a client token sees only its client's workflows,
/// read-only.
/// </summary>
public static class AdminApi
{
    private const string TokenItem = "rs.token";

    /// <summary>Maps the routes.</summary>
    public static void MapAdminApi(this WebApplication app)
    {
        app.MapGet("/health", () => Results.Ok(new { status = "ok" }));
        // Ready once this node is an Up member of the cluster, i.e. its shard region can host and
        // reach workflows; until then applying or querying a workflow would wait or time out.
        app.MapGet("/health/ready", (Akka.Actor.ActorSystem system) =>
        {
            var member = Akka.Cluster.Cluster.Get(system).SelfMember;
            return member.Status == Akka.Cluster.MemberStatus.Up
                ? Results.Ok(new { status = "ready", member = member.Address.ToString() })
                : Results.Json(new { status = "not ready", member = member.Address.ToString(), memberStatus = member.Status.ToString() }, statusCode: 503);
        });

        var api = app.MapGroup("/api").AddEndpointFilter(async (ctx, next) =>
        {
            var http = ctx.HttpContext;
            var header = http.Request.Headers.Authorization.ToString();
            if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
                return Problem(401, "missing token", "Send 'Authorization: Bearer <token>'.");
            var tokens = http.RequestServices.GetRequiredService<ITokenStore>();
            var token = await tokens.AuthenticateAsync(header["Bearer ".Length..].Trim(), http.RequestAborted);
            if (token is null)
                return Problem(401, "invalid token", "The token is unknown or revoked.");
            http.Items[TokenItem] = token;
            return await next(ctx);
        });

        api.MapGet("/workflows", async (HttpContext http, WorkflowQueries queries) =>
            Results.Ok(await queries.ListAsync(ClientScope(http), http.RequestAborted)));

        api.MapGet("/workflows/{id}", async (string id, HttpContext http, WorkflowQueries queries) =>
            await queries.GetAsync(id, ClientScope(http), http.RequestAborted) is { } view
                ? Results.Ok(view)
                : Problem(404, "no such workflow", $"There is no workflow '{id}'."));

        api.MapPost("/workflows", async (HttpContext http, WorkflowQueries queries) =>
        {
            if (ClientScope(http) is not null)
                return Problem(403, "forbidden", "Client tokens are read-only.");
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
            return await queries.ApplyAsync(def.Id, yaml, fileName, http.RequestAborted) switch
            {
                WorkflowReplies.DefinitionApplied a => Results.Ok(new { workflowId = a.WorkflowId, version = a.Version, applied = true }),
                WorkflowReplies.DefinitionUnchanged u => Results.Ok(new { workflowId = u.WorkflowId, version = u.Version, applied = false }),
                WorkflowReplies.DefinitionRejected r => Results.Json(new { error = "definition rejected", errors = r.Errors }, statusCode: 400),
                var other => Problem(500, "unexpected reply", other.GetType().Name),
            };
        });

        api.MapGet("/workflows/{id}/dead-letters", async (string id, long? after, int? limit, HttpContext http,
            WorkflowQueries queries, IDeadLetterStore deadLetters) =>
        {
            if (await queries.GetAsync(id, ClientScope(http), http.RequestAborted) is null)
                return Problem(404, "no such workflow", $"There is no workflow '{id}'.");
            return Results.Ok(await deadLetters.ListAsync(id, after ?? 0, Math.Clamp(limit ?? 100, 1, 1000), http.RequestAborted));
        });
    }

    /// <summary>Null for an operator (everything), else the client whose workflows the token may see.</summary>
    private static string? ClientScope(HttpContext http)
    {
        var token = (TokenInfo)http.Items[TokenItem]!;
        return token.Role == "operator" ? null : token.ClientId ?? "\0no-client";
    }

    private static IResult Problem(int status, string error, string detail) =>
        Results.Json(new { error, detail }, statusCode: status);
}
