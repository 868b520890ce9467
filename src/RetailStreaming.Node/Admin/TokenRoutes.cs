using RetailStreaming.Store;
using static RetailStreaming.Node.Admin.AdminApi;

namespace RetailStreaming.Node.Admin;

/// <summary>A token to issue.</summary>
/// <param name="Role"><c>operator</c> or <c>client</c>; <c>client</c> when omitted and a client id is given.</param>
/// <param name="ClientId">For a client token, its client.</param>
/// <param name="Description">Who or what it is for.</param>
public sealed record TokenRequest(string? Role, string? ClientId, string? Description);

/// <summary>The <c>/api/tokens</c> routes (operators only): issue (the secret is shown once), list, revoke.</summary>
internal static class TokenRoutes
{
    public static void MapTokenRoutes(this RouteGroupBuilder api)
    {
        var tokens = api.MapGroup("/tokens").OperatorOnly();

        tokens.MapPost("", async (TokenRequest request, ITokenStore store, HttpContext http) =>
        {
            var role = string.IsNullOrWhiteSpace(request.Role)
                ? request.ClientId is null ? null : TokenStore.ClientRole
                : request.Role.Trim();
            if (role is null)
                return Problem(400, "invalid token request", "Give a role ('operator', or 'client' with a clientId).");
            try
            {
                var (secret, info) = await store.IssueAsync(role, string.IsNullOrWhiteSpace(request.ClientId) ? null : request.ClientId.Trim(),
                    request.Description ?? "", http.RequestAborted);
                return Results.Json(new
                {
                    info.Id, info.Role, info.ClientId, info.Description, info.CreatedAt,
                    secret, // the only time it is shown: only its hash is stored
                }, statusCode: 201);
            }
            catch (ArgumentException e)
            {
                return Problem(400, "invalid token request", e.Message);
            }
        });

        tokens.MapGet("", async (ITokenStore store, HttpContext http) => Results.Ok(await store.ListAsync(http.RequestAborted)));

        tokens.MapDelete("/{id}", async (string id, ITokenStore store, HttpContext http) =>
            await store.RevokeAsync(id, http.RequestAborted)
                ? Results.Ok(new { id, revoked = true })
                : Problem(404, "no such token", $"There is no token '{id}'; list them with GET /api/tokens."));
    }
}
