using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using RetailStreaming.Store;
using RetailStreaming.Workflows.Hosting;
using RetailStreaming.Workflows.Protocol;
using static RetailStreaming.Node.Admin.AdminApi;

namespace RetailStreaming.Node.Admin;

/// <summary>Which dead letters to redrive: exactly one of <see cref="Entries"/>, <see cref="All"/> or <see cref="Filter"/>.</summary>
/// <param name="Entries">These entries, in this order.</param>
/// <param name="All">Every dead letter of the workflow not yet redriven with success (oldest position first).</param>
/// <param name="Filter">Those of them that match.</param>
/// <param name="Force">Send superseded (or already redriven) letters too.</param>
/// <param name="Limit">The most letters one call takes with <see cref="All"/> or <see cref="Filter"/> (default 100, at most 1000).</param>
public sealed record RedriveRequest(IReadOnlyList<long>? Entries, bool All, RedriveFilter? Filter, bool Force, int? Limit);

/// <summary>A redrive filter: every criterion given must hold.</summary>
/// <param name="Stage"><c>transform</c> or <c>delivery</c>.</param>
/// <param name="Table">The source table.</param>
/// <param name="From">The lowest entry id.</param>
/// <param name="To">The highest entry id.</param>
public sealed record RedriveFilter(string? Stage, string? Table, long? From, long? To);

/// <summary>
/// The <c>/api/workflows/{id}/dead-letters</c> routes: list and show (a client token sees its
/// client's only), and redrive (operators only; audited like every mutating call, and each
/// entry's outcome is logged by the workflow).
/// </summary>
internal static class DeadLetterRoutes
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    public static void MapDeadLetterRoutes(this RouteGroupBuilder api)
    {
        api.MapGet("/workflows/{id}/dead-letters", async (string id, long? after, int? limit, HttpContext http,
            WorkflowQueries queries, IDeadLetterStore deadLetters) =>
        {
            if (await queries.FindAsync(id, ClientScope(http), http.RequestAborted) is null)
                return NoSuchWorkflow(id);
            return Results.Ok(await deadLetters.ListAsync(id, Math.Max(0, after ?? 0), Math.Clamp(limit ?? 100, 1, DeadLetterStore.MaxPageSize), http.RequestAborted));
        });

        api.MapGet("/workflows/{id}/dead-letters/{entryId:long}", async (string id, long entryId, HttpContext http,
            WorkflowQueries queries, IDeadLetterStore deadLetters) =>
        {
            if (await queries.FindAsync(id, ClientScope(http), http.RequestAborted) is null)
                return NoSuchWorkflow(id);
            // An entry of another workflow is not found here, whoever asks.
            return await deadLetters.GetAsync(entryId, http.RequestAborted) is { } letter && letter.WorkflowId == id
                ? Results.Ok(letter)
                : NoSuchDeadLetter(id, entryId);
        });

        api.MapPost("/workflows/{id}/dead-letters/redrive", async (string id, HttpContext http, WorkflowQueries queries,
            IDeadLetterStore deadLetters, IRequiredActor<WorkflowRegion> region, NodeOptions options) =>
        {
            // Read here rather than bound, so that the token checks answer before a bad body does.
            RedriveRequest? request;
            try
            {
                request = await JsonSerializer.DeserializeAsync<RedriveRequest>(http.Request.Body, Web, http.RequestAborted);
            }
            catch (JsonException e)
            {
                return Problem(400, "invalid redrive request", $"The body is not a redrive request: {e.Message}");
            }
            if (request is null || (request.Entries is { Count: > 0 } ? 1 : 0) + (request.All ? 1 : 0) + (request.Filter is null ? 0 : 1) != 1)
                return Problem(400, "invalid redrive request",
                    "Give exactly one of: entries (a list of ids), all: true, or filter {stage, table, from, to}.");
            if (request.Filter?.Stage is { } stage && !DeadLetterStore.Stages.Contains(stage))
                return Problem(400, "invalid redrive request", $"filter.stage must be one of {string.Join(", ", DeadLetterStore.Stages)}; got '{stage}'.");
            var limit = request.Limit ?? 100;
            if (limit is < 1 or > DeadLetterStore.MaxPageSize)
                return Problem(400, "invalid redrive request", $"limit must be 1..{DeadLetterStore.MaxPageSize}; got {limit}.");
            if (await queries.FindAsync(id, null, http.RequestAborted) is null)
                return NoSuchWorkflow(id);

            IReadOnlyList<long> entries;
            var more = false;
            if (request.Entries is { Count: > 0 } given)
            {
                foreach (var entry in given.Distinct())
                    if (await deadLetters.GetAsync(entry, http.RequestAborted) is not { } letter || letter.WorkflowId != id)
                        return NoSuchDeadLetter(id, entry);
                entries = given.Distinct().ToList();
            }
            else
            {
                var f = request.Filter;
                var selected = await deadLetters.SelectForRedriveAsync(id,
                    new DeadLetterFilter(f?.Stage, string.IsNullOrWhiteSpace(f?.Table) ? null : f.Table, f?.From, f?.To),
                    Math.Min(limit + 1, DeadLetterStore.MaxPageSize), http.RequestAborted);
                more = selected.Count > limit;
                entries = selected.Take(limit).Select(l => l.Id).ToList();
            }

            var shardRegion = await region.GetAsync(http.RequestAborted);
            // The redrive stops at the first letter the endpoint does not take within RedriveTimeout.
            var timeout = options.Workflows.RedriveTimeout + TimeSpan.FromSeconds(30 + entries.Count);
            object reply;
            try
            {
                reply = entries.Count == 0
                    ? new WorkflowReplies.Redriven(id, [])
                    : await shardRegion.Ask<object>(new WorkflowCommands.Redrive(id, entries, request.Force, Caller(http)?.Id ?? "?"), timeout, http.RequestAborted);
            }
            catch (AskTimeoutException)
            {
                return Problem(504, "no answer", $"The redrive of workflow '{id}' did not answer within {timeout.TotalSeconds:0}s; " +
                                                 $"it may still be running: see each entry's redrive with GET /api/workflows/{id}/dead-letters.");
            }
            return reply switch
            {
                WorkflowReplies.Redriven r => Results.Ok(new
                {
                    workflowId = id,
                    force = request.Force,
                    selected = entries.Count,
                    delivered = r.Results.Count(x => x.Outcome == RedriveResult.Delivered),
                    failed = r.Results.Count(x => x.Outcome == RedriveResult.Failed),
                    skipped = r.Results.Count(x => x.Outcome == RedriveResult.Skipped),
                    more,
                    results = r.Results.Select(x => new
                    {
                        entryId = x.EntryId,
                        outcome = x.Outcome,
                        detail = x.Detail,
                        transformVersion = x.TransformVersion,
                        idempotencyKeys = x.IdempotencyKeys,
                    }),
                }),
                WorkflowReplies.LifecycleRefused refused => Problem(409, "conflict", refused.Reason),
                var other => Problem(500, "unexpected reply", other.GetType().Name),
            };
        }).OperatorOnly();
    }

    private static IResult NoSuchDeadLetter(string id, long entryId) =>
        Problem(404, "no such dead letter", $"Workflow '{id}' has no dead letter {entryId}; list them with GET /api/workflows/{id}/dead-letters.");
}
