using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Cluster;
using RetailStreaming.Store;
using RetailStreaming.Workflows.Observation;
using RetailStreaming.Workflows.Protocol;
using static RetailStreaming.Node.Admin.AdminApi;

namespace RetailStreaming.Node.Admin;

/// <summary>
/// The routes the pages read besides the existing ones: the node's stage, the last hour of samples
/// and a record's path. Samples and record trails live in each node's memory, so these ask every
/// Up member's observation actor and merge the answers (a node that does not answer in time is
/// named in <c>unanswered</c>).
/// </summary>
internal static class PageRoutes
{
    private static readonly TimeSpan MemberTimeout = TimeSpan.FromSeconds(3);
    private const int DeadLetterScanLimit = 10_000;

    public static void MapPageRoutes(this RouteGroupBuilder api)
    {
        api.MapGet("/overview", (HttpContext http, NodeOptions options, ActorSystem system) =>
        {
            var caller = Caller(http)!;
            return Results.Ok(new
            {
                stage = options.Pages.Stage,
                node = Cluster.Get(system).SelfAddress.ToString(),
                role = caller.Role,
                clientId = caller.ClientId,
                sampleIntervalSeconds = options.Pages.SampleInterval.TotalSeconds,
                trailRecords = options.Pages.TrailRecords,
                now = DateTimeOffset.UtcNow,
            });
        });

        api.MapGet("/samples", async (int? minutes, string? workflow, HttpContext http, WorkflowQueries queries, ActorSystem system) =>
        {
            var scope = ClientScope(http);
            // Only the caller's workflows are asked for: a client never receives another client's figures.
            var visible = (await queries.VisibleIdsAsync(scope, http.RequestAborted)).ToHashSet(StringComparer.Ordinal);
            if (workflow is not null && !visible.Contains(workflow)) return NoSuchWorkflow(workflow);
            var ids = workflow is not null ? [workflow] : visible.ToList();
            var since = DateTimeOffset.UtcNow - TimeSpan.FromMinutes(Math.Clamp(minutes ?? 60, 1, 60));
            var (answers, unanswered) = await AskMembersAsync<Observations.Samples>(system, new Observations.GetSamples(since, ids), http.RequestAborted);
            return Results.Ok(new
            {
                since,
                intervalSeconds = answers.Select(a => a.Interval.TotalSeconds).DefaultIfEmpty(0).Max(),
                samples = answers.SelectMany(a => a.Items).Where(s => visible.Contains(s.WorkflowId)).OrderBy(s => s.At),
                nodes = answers.Select(a => a.Node).Order(StringComparer.Ordinal),
                unanswered,
            });
        });

        api.MapGet("/workflows/{id}/records", async (string id, string? key, string? table, int? limit, HttpContext http,
            WorkflowQueries queries, IDeadLetterStore deadLetters, ActorSystem system) =>
        {
            if (await queries.FindAsync(id, ClientScope(http), http.RequestAborted) is null) return NoSuchWorkflow(id);
            if (string.IsNullOrWhiteSpace(key))
                return Problem(400, "missing key", "Give the source row's key: ?key=<value> (its primary key value, values joined by commas, or its JSON).");
            key = key.Trim();
            table = string.IsNullOrWhiteSpace(table) ? null : table.Trim();
            var max = Math.Clamp(limit ?? 50, 1, 1000);
            var (answers, unanswered) = await AskMembersAsync<Observations.RecordsFound>(
                system, new Observations.FindRecords(id, key, table, max), http.RequestAborted);
            var letters = await MatchingDeadLettersAsync(deadLetters, id, key, table, http.RequestAborted);
            return Results.Ok(new
            {
                workflowId = id,
                key,
                table,
                records = answers.SelectMany(a => a.Entries.Select(e => new { node = a.Node, record = e }))
                    .OrderByDescending(r => r.record.FinishedAt).Take(max),
                deadLetters = letters.Item1.Select(l => new
                {
                    l.Id, l.Stage, l.Position, l.OutputIndex, l.TransformVersion, l.Reason, l.CreatedAt, l.Attempts, l.Redrive, l.Superseded,
                }),
                deadLettersScanned = letters.Item2,
                reach = answers.Select(a => new { a.Node, a.Held, a.Capacity, a.OldestAt }),
                unanswered,
            });
        });
    }

    /// <summary>Dead letters of the workflow whose change has that key, newest first, among the workflow's first <see cref="DeadLetterScanLimit"/> by id (a bound on the cost of one lookup).</summary>
    private static async Task<(List<DeadLetter>, int)> MatchingDeadLettersAsync(IDeadLetterStore store, string workflowId, string key, string? table, CancellationToken ct)
    {
        var all = new List<DeadLetter>();
        long after = 0;
        while (all.Count < DeadLetterScanLimit)
        {
            var page = await store.ListAsync(workflowId, after, 500, ct);
            if (page.Count == 0) break;
            all.AddRange(page);
            after = page[^1].Id;
        }
        var scanned = all.Count;
        var matches = all.Where(l => InputMatches(l.InputJson, key, table)).OrderByDescending(l => l.Id).Take(100).ToList();
        return (matches, scanned);
    }

    /// <summary>The same rule as the record trail's: the key's JSON, or its values joined by commas.</summary>
    internal static bool InputMatches(string inputJson, string key, string? table)
    {
        try
        {
            if (JsonNode.Parse(inputJson) is not JsonObject change) return false;
            if (table is not null && change["table"]?.GetValue<string>() != table) return false;
            if (change["key"] is not JsonObject row || row.Count == 0) return false;
            if (row.ToJsonString() == key) return true;
            var values = string.Join(",", row.Select(kv => kv.Value switch
            {
                null => "null",
                JsonValue v when v.TryGetValue<string>(out var s) => s,
                var v => v.ToJsonString(),
            }));
            return values == key;
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    /// <summary>Asks the observation actor of every Up member; returns the answers and the members that gave none in time.</summary>
    private static async Task<(List<T> Answers, List<string> Unanswered)> AskMembersAsync<T>(ActorSystem system, object message, CancellationToken ct)
    {
        var members = Cluster.Get(system).State.Members
            .Where(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Leaving)
            .Select(m => m.Address).ToList();
        var asks = members.Select(async address =>
        {
            try
            {
                var selection = system.ActorSelection(new RootActorPath(address) / "user" / ObservationActor.Name);
                return (address, answer: (object?)await selection.Ask<T>(message, MemberTimeout, ct));
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or ActorNotFoundException)
            {
                return (address, answer: null);
            }
        });
        var results = await Task.WhenAll(asks);
        return (results.Where(r => r.answer is T).Select(r => (T)r.answer!).ToList(),
            results.Where(r => r.answer is not T).Select(r => r.address.ToString()).ToList());
    }
}
