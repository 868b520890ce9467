using Serilog;
using ILogger = Serilog.ILogger;

namespace RetailStreaming.Node.Admin;

/// <summary>
/// The audit trail of the admin API: every call that changes something (any method but GET),
/// refused or not, with who made it (token id, role, client) and its outcome. Written through
/// Serilog like every other log line, under the source context <c>RetailStreaming.Admin.Audit</c>.
/// </summary>
/// <param name="logger">Where to write; the node's global Serilog logger when null.</param>
public sealed class AdminAudit(ILogger? logger = null)
{
    /// <summary>Records one mutating call.</summary>
    /// <param name="method">HTTP method.</param>
    /// <param name="path">Request path (with its query).</param>
    /// <param name="caller">The authenticated token, or null when the call had none (or a bad one).</param>
    /// <param name="status">The HTTP status answered.</param>
    public void Record(string method, string path, Store.TokenInfo? caller, int status)
    {
        var log = (logger ?? Log.Logger).ForContext("SourceContext", "RetailStreaming.Admin.Audit");
        if (caller is null)
        {
            log.Warning("Admin {Method} {Path} by an unauthenticated caller: {Status}", method, path, status);
            return;
        }
        log.Information("Admin {Method} {Path} by token {TokenId} ({Role}{ClientSuffix}, {TokenDescription}): {Status}",
            method, path, caller.Id, caller.Role, caller.ClientId is null ? "" : " of " + caller.ClientId, caller.Description, status);
    }
}
