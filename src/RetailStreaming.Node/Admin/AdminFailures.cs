namespace RetailStreaming.Node.Admin;

/// <summary>
/// Turns an admin call that threw into an answer that says what happened: a workflow or the cluster
/// that did not answer in time gets 504 (the call may still take effect), anything else 500 with the
/// exception's type and message. ASP.NET's default is a bare 500 without a body.
/// </summary>
public static class AdminFailures
{
    /// <summary>The endpoint filter.</summary>
    public static async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext ctx, EndpointFilterDelegate next)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(next);
        var http = ctx.HttpContext;
        try
        {
            return await next(ctx);
        }
        catch (Akka.Actor.AskTimeoutException e)
        {
            Logger(http).LogWarning(e, "Admin {Method} {Path}: no answer in time", http.Request.Method, http.Request.Path);
            return AdminApi.Problem(504, "no answer in time",
                $"{e.Message} The cluster may be busy or rebalancing, and the call may still take effect: " +
                "check with a GET (rsctl workflow show) before trying again.");
        }
        catch (Exception e) when (!http.RequestAborted.IsCancellationRequested)
        {
            Logger(http).LogError(e, "Admin {Method} {Path} failed", http.Request.Method, http.Request.Path);
            return AdminApi.Problem(500, "internal error", $"{e.GetType().Name}: {e.Message} (the node's log has the stack trace)");
        }
    }

    private static ILogger Logger(HttpContext http) =>
        http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("RetailStreaming.Admin");
}
