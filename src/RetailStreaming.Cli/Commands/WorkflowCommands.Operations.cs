using System.Net;
using System.Text.Json;
using RetailStreaming.Cli.Output;

namespace RetailStreaming.Cli.Commands;

/// <summary><c>rsctl workflow delete | replay | snapshot | promote</c>.</summary>
internal static partial class WorkflowCommands
{
    private static async Task<int> DeleteAsync(Session s)
    {
        const string usage = "rsctl workflow delete <id> [--json]";
        var id = s.Line.Word(2, "the workflow id", usage);
        ClusterCommands.Done(s, 3, usage);
        var response = await s.Client.DeleteAsync($"/api/workflows/{Uri.EscapeDataString(id)}");
        if (response.Status == HttpStatusCode.BadGateway && response.Body.Text("state") == "deleted")
        {
            if (s.Json) Json.Write(s.Out, response.Body);
            // Deleted, but the client database still holds the capture: the detail says what to run.
            throw new CliException(ExitCodes.Failed, $"workflow {id} is deleted and will not run again, but {response.Body.Text("detail")}");
        }
        var answer = AdminClient.Expect(response, ListHint);
        if (s.Json)
        {
            Json.Write(s.Out, answer);
            return ExitCodes.Ok;
        }
        s.Out.WriteLine(answer.Bool("changed")
            ? $"workflow {id} deleted: drained and stopped at checkpoint {answer.Text("checkpoint")}; {answer.Text("capture")}"
            : $"workflow {id} was already deleted (checkpoint {answer.Text("checkpoint")}); {answer.Text("capture")}");
        s.Out.WriteLine($"its history and dead letters stay readable: rsctl workflow history {id}, rsctl dlq list {id}");
        return ExitCodes.Ok;
    }

    private static async Task<int> ReplayAsync(Session s)
    {
        const string usage = "rsctl workflow replay <id> --from <position|earliest> [--json]";
        var id = s.Line.Word(2, "the workflow id", usage);
        var from = s.Line.Option("from") ?? throw CliException.Usage($"missing --from <position|earliest>; usage: {usage}");
        ClusterCommands.Done(s, 3, usage);
        var response = await s.Client.PostJsonAsync($"/api/workflows/{Uri.EscapeDataString(id)}/replay?from={Uri.EscapeDataString(from)}");
        var answer = AdminClient.Expect(response, ListHint);
        if (s.Json)
        {
            Json.Write(s.Out, answer);
            return ExitCodes.Ok;
        }
        s.Out.WriteLine($"workflow {id} replaying every change after {answer.Text("from")} up to {answer.Text("until")}, " +
                        "with their original idempotency keys; rsctl workflow show tells when it is done");
        return ExitCodes.Ok;
    }

    private static async Task<int> SnapshotAsync(Session s)
    {
        const string usage = "rsctl workflow snapshot <id> [--table <table>] [--json]";
        var id = s.Line.Word(2, "the workflow id", usage);
        var table = s.Line.Option("table");
        ClusterCommands.Done(s, 3, usage);
        var path = $"/api/workflows/{Uri.EscapeDataString(id)}/snapshot" + (table is null ? "" : $"?table={Uri.EscapeDataString(table)}");
        var answer = AdminClient.Expect(await s.Client.PostJsonAsync(path), ListHint);
        if (s.Json)
        {
            Json.Write(s.Out, answer);
            return ExitCodes.Ok;
        }
        var result = new Table("TABLE", "SNAPSHOT");
        foreach (var (t, snapshot) in answer.Get("tables").Items().Zip(answer.Get("snapshotIds").Items()))
            result.Add(t.GetString(), snapshot.GetString());
        result.Write(s.Out, $"Count: {result.Count} table(s) to be read again; their rows arrive as snapshot reads (operation 'read')");
        return ExitCodes.Ok;
    }

    private static async Task<int> PromoteAsync(Session s)
    {
        const string usage = "rsctl workflow promote <id> --from <context> --to <context> [--dry-run] [--json]";
        var id = s.Line.Word(2, "the workflow id", usage);
        var fromName = s.Line.Option("from") ?? throw CliException.Usage($"missing --from <context>; usage: {usage}");
        var toName = s.Line.Option("to") ?? throw CliException.Usage($"missing --to <context>; usage: {usage}");
        var dryRun = s.Line.Flag("dry-run");
        s.Line.Option("json");
        s.Line.RejectUnknown(3, usage);
        if (fromName == toName)
            throw CliException.Usage($"--from and --to are both '{fromName}'; promote between two contexts (rsctl context list)");
        using var source = ContextClient(s, fromName);
        using var target = ContextClient(s, toName);

        // Exactly what runs on the source: the current version's YAML as applied, and its package's content hash there.
        var definition = AdminClient.Expect(await source.GetAsync($"/api/workflows/{Uri.EscapeDataString(id)}/definition"),
            $"list them with rsctl workflow list --context {fromName}");
        var (package, version, hash) = (definition.Text("transformPackage"), definition.Text("transformVersion"), definition.Text("contentHash"));
        if (definition.Bool("deleted"))
            throw new CliException(ExitCodes.Failed, $"workflow {id} is deleted on {fromName}; there is nothing to promote");
        if (hash is null)
            throw new CliException(ExitCodes.NotFoundOrNotAllowed,
                $"{fromName} does not hold {package} {version} in its package folder, so what runs there cannot be checked; publish it on {fromName} first");
        var request = new
        {
            yaml = definition.Text("yaml"),
            fileName = definition.Text("fileName"),
            transformPackage = package,
            transformVersion = version,
            contentHash = hash,
        };

        var plan = ExpectPromotion(await target.PostJsonAsync("/api/promotions?dryRun=true", request), toName, package, version);
        var result = dryRun || !plan.Bool("changed") ? (JsonElement?)null
            : ExpectPromotion(await target.PostJsonAsync("/api/promotions", request), toName, package, version);
        if (s.Json)
        {
            Json.Write(s.Out, JsonSerializer.SerializeToElement(new { workflowId = id, from = fromName, to = toName, dryRun, source = definition, plan, result }));
            return ExitCodes.Ok;
        }

        s.Out.WriteLine($"promote workflow {id} v{definition.Text("version")} from {fromName} to {toName}: transform {package} {version}, " +
                        $"content hash {hash[..Math.Min(16, hash.Length)]}... (the same on both)");
        var current = plan.Text("currentYaml");
        var before = current is null ? $"/dev/null (no workflow {id} on {toName})" : $"{toName} {id} v{plan.Text("currentVersion")}";
        var lines = UnifiedDiff.Lines(current ?? "", request.yaml ?? "", before, $"{fromName} {id} v{definition.Text("version")}");
        if (lines.Count == 0) s.Out.WriteLine($"no differences: {toName} already runs this definition (v{plan.Text("currentVersion")})");
        foreach (var line in lines) s.Out.WriteLine(line);
        if (dryRun)
            s.Out.WriteLine("dry run: nothing applied");
        else if (result is { } applied)
            s.Out.WriteLine($"applied on {toName} as version {applied.Text("version")}");
        return ExitCodes.Ok;
    }

    /// <summary>The target's answer; a package it lacks or holds with other content is "not allowed" (exit 3).</summary>
    private static JsonElement ExpectPromotion(ApiResponse response, string target, string? package, string? version)
    {
        if (response.Status == HttpStatusCode.BadRequest && response.Body.Get("errors").ValueKind == JsonValueKind.Array)
            throw new CliException(ExitCodes.Failed,
                $"{target} refused the definition: {string.Join("; ", response.Body.Get("errors").Items().Select(e => e.GetString()))}");
        return response.Body.Text("error") switch
        {
            "transform package missing" or "transform package differs" => throw new CliException(ExitCodes.NotFoundOrNotAllowed,
                $"{target} cannot run exactly what runs on the source: {response.Detail}"),
            _ => AdminClient.Expect(response),
        };
    }

    /// <summary>A client for a named context (promote talks to two nodes; <c>--node</c> does not apply).</summary>
    private static AdminClient ContextClient(Session s, string name)
    {
        var file = ContextFile.Load(s.Env.ConfigPath);
        if (!file.Contexts.TryGetValue(name, out var context))
            throw CliException.Usage($"no context '{name}' in {s.Env.ConfigPath}; add it with rsctl context add {name} --node URL --token TOKEN (see rsctl context list)");
        if (!Uri.TryCreate(context.Node, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw CliException.Usage($"context '{name}' has no valid node URL ('{context.Node}'); fix it with rsctl context add {name} --node http://host:port");
        return new AdminClient(uri, context.Token, s.Env.Handler);
    }
}
