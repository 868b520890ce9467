using System.Reflection;

namespace RetailStreaming.Node.Pages;

/// <summary>
/// Serves the pages (embedded in this assembly, so a node needs no file or CDN to show them):
/// <c>/ui/</c> the operator dashboard, <c>/ui/support</c> a record's path, <c>/ui/status</c> a
/// client's status. They hold no data and need no token to load; their scripts read the admin API
/// with the token the user gives (kept in the tab's sessionStorage, sent only as a bearer header,
/// never in a URL the server sees).
/// </summary>
public static class PagesEndpoints
{
    private static readonly Dictionary<string, (string Resource, string ContentType)> Files = new(StringComparer.Ordinal)
    {
        [""] = ("dashboard.html", "text/html; charset=utf-8"),
        ["support"] = ("support.html", "text/html; charset=utf-8"),
        ["status"] = ("status.html", "text/html; charset=utf-8"),
        ["app.css"] = ("app.css", "text/css; charset=utf-8"),
        ["app.js"] = ("app.js", "text/javascript; charset=utf-8"),
        ["dashboard.js"] = ("dashboard.js", "text/javascript; charset=utf-8"),
        ["support.js"] = ("support.js", "text/javascript; charset=utf-8"),
        ["status.js"] = ("status.js", "text/javascript; charset=utf-8"),
    };

    /// <summary>Maps <c>/</c> (to the dashboard) and <c>/ui/{page}</c> (routing ignores a trailing slash, so <c>/ui</c> is the dashboard too).</summary>
    public static void MapPages(this WebApplication app)
    {
        app.MapGet("/", () => Results.Redirect("/ui/"));
        app.MapGet("/ui/{file?}", (string? file, HttpContext http) =>
        {
            if (!Files.TryGetValue(file ?? "", out var entry)) return Results.NotFound();
            var stream = typeof(PagesEndpoints).Assembly.GetManifestResourceStream("pages/" + entry.Resource);
            if (stream is null) return Results.NotFound();
            var headers = http.Response.Headers;
            // Only this node's own scripts and styles; no inline script, no other origin (the token stays here).
            headers.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
            headers["Referrer-Policy"] = "no-referrer";
            headers["X-Content-Type-Options"] = "nosniff";
            headers.CacheControl = "no-cache";
            return Results.Stream(stream, entry.ContentType);
        });
    }
}
