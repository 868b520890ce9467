using System.Globalization;
using RetailStreaming.Node.Health;
using static RetailStreaming.Node.Admin.AdminApi;

namespace RetailStreaming.Node.Admin;

/// <summary>The <c>/api/sla</c> and <c>/api/alerts</c> routes.</summary>
internal static class HealthRoutes
{
    public static void MapHealthRoutes(this RouteGroupBuilder api)
    {
        // A client token sees its own client's workflows only, whatever it asks for.
        api.MapGet("/sla", async (HttpContext http, SlaReports reports) =>
        {
            var scope = ClientScope(http);
            var client = http.Request.Query["client"].FirstOrDefault();
            if (scope is not null) client = scope;
            if (!TryTime(http, "from", out var from, out var fromProblem)) return fromProblem!;
            if (!TryTime(http, "to", out var to, out var toProblem)) return toProblem!;
            if (from is not null && to is not null && from >= to)
                return Problem(400, "bad period", "from must be before to.");
            return Results.Ok(await reports.BuildAsync(client, from, to, http.RequestAborted));
        });

        api.MapGet("/alerts", async (HttpContext http, RetailStreaming.Store.PlatformStore store, TimeProvider time) =>
        {
            if (!TryTime(http, "since", out var since, out var problem)) return problem!;
            return Results.Ok(await store.Alerts.ListAsync(ClientScope(http), since ?? time.GetUtcNow().AddDays(-1), 500, http.RequestAborted));
        });
    }

    private static bool TryTime(HttpContext http, string name, out DateTimeOffset? value, out IResult? problem)
    {
        value = null;
        problem = null;
        var text = http.Request.Query[name].FirstOrDefault();
        if (string.IsNullOrEmpty(text)) return true;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
        {
            value = t;
            return true;
        }
        problem = Problem(400, $"bad {name}", $"'{text}' is not a date or time; use ISO 8601, e.g. 2026-11-01 or 2026-11-01T12:00:00Z.");
        return false;
    }
}
