using RetailStreaming.Cli.Output;

namespace RetailStreaming.Cli.Commands;

/// <summary><c>rsctl token issue | list | revoke</c> (operators only).</summary>
internal static class TokenCommands
{
    public static async Task<int> RunAsync(Session s)
    {
        var verb = s.Line.Word(1, "a verb", "rsctl token issue|list|revoke");
        switch (verb)
        {
            case "issue":
            {
                const string usage = "rsctl token issue --client <client-id> | --operator [--description TEXT] [--json]";
                var client = s.Line.Option("client");
                var isOperator = s.Line.Flag("operator");
                var description = s.Line.Option("description");
                ClusterCommands.Done(s, 2, usage);
                if (isOperator == (client is not null))
                    throw CliException.Usage($"give either --client <client-id> or --operator; usage: {usage}");
                var role = isOperator ? "operator" : "client";
                var issued = AdminClient.Expect(await s.Client.PostJsonAsync("/api/tokens", new
                {
                    role,
                    clientId = client,
                    description = description ?? (isOperator ? "operator token (rsctl)" : $"client {client} (rsctl)"),
                }));
                if (s.Json)
                {
                    Json.Write(s.Out, issued);
                    return ExitCodes.Ok;
                }
                new Details()
                    .Add("Token", issued.Text("id"))
                    .Add("Role", issued.Text("role") + (issued.Text("clientId") is { } c ? $" ({c})" : ""))
                    .Add("Description", issued.Text("description"))
                    .Add("Secret", issued.Text("secret"))
                    .Write(s.Out);
                s.Out.WriteLine("The secret is shown once: store it now (the node keeps only its hash).");
                return ExitCodes.Ok;
            }
            case "list":
            {
                ClusterCommands.Done(s, 2, "rsctl token list [--json]");
                var tokens = AdminClient.Expect(await s.Client.GetAsync("/api/tokens"));
                if (s.Json)
                {
                    Json.Write(s.Out, tokens);
                    return ExitCodes.Ok;
                }
                var table = new Table("TOKEN", "ROLE", "CLIENT", "CREATED", "REVOKED", "DESCRIPTION");
                foreach (var t in tokens.Items())
                    table.Add(t.Text("id"), t.Text("role"), t.Text("clientId") ?? "-", t.Time("createdAt"), t.Time("revokedAt") ?? "-", Json.Cell(t.Text("description"), 50));
                var revoked = tokens.Items().Count(t => t.Text("revokedAt") is not null);
                table.Write(s.Out, $"Count: {table.Count} token(s), {revoked} revoked");
                return ExitCodes.Ok;
            }
            case "revoke":
            {
                const string usage = "rsctl token revoke <token-id>";
                var id = s.Line.Word(2, "the token id (see rsctl token list)", usage);
                ClusterCommands.Done(s, 3, usage);
                var answer = AdminClient.Expect(await s.Client.DeleteAsync($"/api/tokens/{Uri.EscapeDataString(id)}"), "see rsctl token list");
                if (s.Json) Json.Write(s.Out, answer);
                else s.Out.WriteLine($"token {id} revoked: the node refuses it from now on");
                return ExitCodes.Ok;
            }
            default:
                throw CliException.Usage($"unknown verb 'token {verb}'; use issue, list or revoke");
        }
    }
}
