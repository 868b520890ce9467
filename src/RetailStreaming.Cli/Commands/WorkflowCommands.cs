using System.Net;
using System.Text.RegularExpressions;
using RetailStreaming.Cli.Output;

namespace RetailStreaming.Cli.Commands;

/// <summary><c>rsctl workflow list | show | apply | diff | history | pause | resume | restart | rollback</c> (and, beside, delete | replay | snapshot | promote).</summary>
internal static partial class WorkflowCommands
{
    public static async Task<int> RunAsync(Session s)
    {
        var verb = s.Line.Word(1, "a verb", "rsctl workflow list|show|apply|diff|history|pause|resume|restart|rollback|delete|replay|snapshot|promote|shadow");
        return verb switch
        {
            "list" => await ListAsync(s),
            "show" or "status" => await ShowAsync(s),
            "apply" => await ApplyAsync(s),
            "diff" => await DiffAsync(s),
            "history" => await HistoryAsync(s),
            "pause" or "resume" or "restart" => await LifecycleAsync(s, verb),
            "rollback" => await RollbackAsync(s),
            "delete" => await DeleteAsync(s),
            "replay" => await ReplayAsync(s),
            "snapshot" => await SnapshotAsync(s),
            "promote" => await PromoteAsync(s),
            "shadow" => await WorkflowShadowCommand.RunAsync(s),
            _ => throw CliException.Usage($"unknown verb 'workflow {verb}'; use list, show, apply, diff, history, pause, resume, restart, rollback, delete, replay, snapshot, promote or shadow"),
        };
    }

    private static async Task<int> ListAsync(Session s)
    {
        ClusterCommands.Done(s, 2, "rsctl workflow list [--json]");
        var workflows = AdminClient.Expect(await s.Client.GetAsync("/api/workflows"));
        if (s.Json)
        {
            Json.Write(s.Out, workflows);
            return ExitCodes.Ok;
        }
        var table = new Table("WORKFLOW", "CLIENT", "STATE", "HEALTH", "VERSION", "TRANSFORM", "CHECKPOINT", "DELIVERED", "DEAD LETTERS", "LAG", "NODE");
        foreach (var w in workflows.Items())
        {
            var st = w.Get("status");
            if (st.ValueKind != System.Text.Json.JsonValueKind.Object)
            {
                table.Add(w.Text("workflowId"), w.Text("clientId"), "unknown", "unknown", "", "", "", "", "", "", Json.Cell(w.Text("problem"), 40));
                continue;
            }
            table.Add(w.Text("workflowId"), w.Text("clientId"), st.Text("state"), st.Get("health").Text("state") ?? "-", "v" + st.Text("definitionVersion"),
                st.Text("transformVersion"), st.Text("checkpoint"), st.Text("deliveredChanges"), st.Text("deadLetters"),
                st.Text("sourcePendingChanges") ?? "-", st.Text("node"));
        }
        table.Write(s.Out, $"Count: {table.Count} workflow(s)");
        return ExitCodes.Ok;
    }

    private static async Task<int> ShowAsync(Session s)
    {
        const string usage = "rsctl workflow show <id> [--json]";
        var id = s.Line.Word(2, "the workflow id", usage);
        ClusterCommands.Done(s, 3, usage);
        var w = AdminClient.Expect(await s.Client.GetAsync($"/api/workflows/{Uri.EscapeDataString(id)}"), ListHint);
        if (s.Json)
        {
            Json.Write(s.Out, w);
            return ExitCodes.Ok;
        }
        var st = w.Get("status");
        var details = new Details()
            .Add("Workflow", w.Text("workflowId"))
            .Add("Client", w.Text("clientId"))
            .Add("Created", w.Time("createdAt"));
        if (st.ValueKind != System.Text.Json.JsonValueKind.Object)
        {
            details.Add("State", "unknown").Add("Problem", w.Text("problem")).Write(s.Out);
            return ExitCodes.Ok;
        }
        details
            .Add("State", st.Text("state"))
            .Add("Health", HealthLine(st.Get("health")))
            .Add("Definition", "v" + st.Text("definitionVersion"))
            .Add("Transform", $"{st.Text("transformPackage")} {st.Text("transformVersion")}".Trim())
            .Add("Checkpoint", st.Text("checkpoint"))
            .Add("Delivered to", st.Text("deliveredPosition"))
            .Add("Captured", st.Text("capturedChanges") + " changes")
            .Add("Delivered", $"{st.Text("deliveredChanges")} changes, {st.Text("deliveredRecords")} records")
            .Add("Dead letters", st.Text("deadLetters"))
            .Add("Retries", st.Text("retries"))
            .Add("Restarts", st.Text("restarts"))
            .Add("In flight", $"{st.Text("inFlight")} (max {st.Text("maxInFlight")}, bound {st.Text("inFlightBound")})")
            .Add("Source lag", st.Text("sourcePendingChanges") is { } pending
                ? $"{pending} changes" + (st.Number("sourceLagSeconds", 1) is { } secs ? $", {secs} s" : "")
                : null)
            .Add("Latency", st.Number("lastCommitToDeliveryMs", 1) is { } ms ? $"{ms} ms (commit to delivery, last batch)" : null)
            .Add("Last delivery", st.Time("lastDeliveryAt"))
            .Add("Endpoint", EndpointLine(st.Get("endpoint")))
            .AddWhenSet("Replaying", st.Text("replayUntil") is { } until ? $"until {until}" : null)
            .AddWhenSet("Deleted", st.Time("deletedAt"))
            .Add("Last error", st.Text("lastError") is { } error ? $"{error} ({st.Time("lastErrorAt")})" : null)
            .Add("Node", st.Text("node"))
            .Write(s.Out);
        WriteRecentErrors(s.Out, st.Get("recentErrors"));
        return ExitCodes.Ok;
    }

    /// <summary>The workflow's health, e.g. "stalled since 2026-11-26 07:00:00Z: no delivery for 5m while 120 change(s) are pending".</summary>
    private static string? HealthLine(System.Text.Json.JsonElement h) =>
        h.ValueKind != System.Text.Json.JsonValueKind.Object ? null : $"{h.Text("state")} since {h.Time("since")}: {h.Text("reason")}";

    /// <summary>The workflow's recent errors, newest first, one line each: time, stage, position, message.</summary>
    private static void WriteRecentErrors(TextWriter output, System.Text.Json.JsonElement errors)
    {
        if (errors.ValueKind != System.Text.Json.JsonValueKind.Array || errors.GetArrayLength() == 0) return;
        output.WriteLine($"Recent errors ({errors.GetArrayLength()}, newest first):");
        foreach (var e in errors.EnumerateArray())
        {
            var at = e.Text("position") is { } position ? $" at {position}" : "";
            output.WriteLine($"  {e.Time("at")} {e.Text("stage")}{at}: {Json.Cell(e.Text("message"), 160)}");
        }
    }

    /// <summary>The delivery endpoint's circuit and rate, e.g. "https://x/hooks: circuit open until 2026-11-26 07:00:00Z, 5 failures in a row".</summary>
    private static string? EndpointLine(System.Text.Json.JsonElement e)
    {
        if (e.ValueKind != System.Text.Json.JsonValueKind.Object) return null;
        var parts = new List<string> { $"circuit {e.Text("circuit")}" };
        if (e.Time("openUntil") is { } until) parts[0] += $" until {until}";
        if (e.Text("consecutiveFailures") is { } failures && failures != "0") parts.Add($"{failures} failures in a row");
        if (e.Number("rateLimitPerSecond", 2) is { } rate) parts.Add($"rate limited to {rate} requests/s");
        if (e.Time("pausedUntil") is { } paused) parts.Add($"Retry-After until {paused}");
        return $"{e.Text("url")}: {string.Join(", ", parts)}";
    }

    private static async Task<int> ApplyAsync(Session s)
    {
        const string usage = "rsctl workflow apply -f <file> [--json]";
        var path = s.Line.Option("file") ?? throw CliException.Usage($"missing -f <file>; usage: {usage}");
        ClusterCommands.Done(s, 2, usage);
        var yaml = ReadFile(s, path);
        var response = await s.Client.PostTextAsync($"/api/workflows?file={Uri.EscapeDataString(path)}", yaml, "application/yaml");
        if (response.Status == HttpStatusCode.BadRequest && response.Body.Get("errors").ValueKind == System.Text.Json.JsonValueKind.Array)
        {
            // file:line:column: field: message, one per line, as the node validated them.
            var errors = response.Body.Get("errors").Items().Select(e => e.GetString()).ToList();
            foreach (var error in errors) s.Env.Error.WriteLine(error);
            throw new CliException(ExitCodes.Failed,
                $"{path}: {response.Body.Text("error")} ({errors.Count} error{(errors.Count == 1 ? "" : "s")} above); fix the file and apply it again");
        }
        var applied = AdminClient.Expect(response);
        if (s.Json)
        {
            Json.Write(s.Out, applied);
            return ExitCodes.Ok;
        }
        s.Out.WriteLine(applied.Bool("applied")
            ? $"workflow {applied.Text("workflowId")} applied as version {applied.Text("version")}"
            : $"workflow {applied.Text("workflowId")} unchanged: version {applied.Text("version")} is the same definition");
        return ExitCodes.Ok;
    }

    private static async Task<int> DiffAsync(Session s)
    {
        const string usage = "rsctl workflow diff -f <file> [<id>]";
        var path = s.Line.Option("file") ?? throw CliException.Usage($"missing -f <file>; usage: {usage}");
        var explicitId = s.Line.Words.Count > 2 ? s.Line.Words[2] : null;
        ClusterCommands.Done(s, 3, usage);
        var yaml = ReadFile(s, path);
        var id = explicitId ?? IdOf(yaml)
            ?? throw CliException.Usage($"{path} has no top-level 'id:'; name the workflow: {usage}");

        var response = await s.Client.GetAsync($"/api/workflows/{Uri.EscapeDataString(id)}/history");
        string before, beforeName;
        if (response.Status == HttpStatusCode.NotFound)
        {
            (before, beforeName) = ("", "/dev/null (no workflow " + id + ")");
        }
        else
        {
            var history = AdminClient.Expect(response);
            var current = history.Get("versions").Items().LastOrDefault();
            if (current.ValueKind == System.Text.Json.JsonValueKind.Undefined)
                (before, beforeName) = ("", "/dev/null (no version of " + id + ")");
            else
                (before, beforeName) = (current.Text("yaml") ?? "", $"{id} v{current.Text("version")} (applied {current.Time("appliedAt")})");
        }
        var lines = UnifiedDiff.Lines(before, yaml, beforeName, path);
        if (lines.Count == 0) s.Out.WriteLine($"no differences: {path} is the definition of {beforeName}");
        foreach (var line in lines) s.Out.WriteLine(line);
        return ExitCodes.Ok;
    }

    private static async Task<int> HistoryAsync(Session s)
    {
        const string usage = "rsctl workflow history <id> [--json]";
        var id = s.Line.Word(2, "the workflow id", usage);
        ClusterCommands.Done(s, 3, usage);
        var history = AdminClient.Expect(await s.Client.GetAsync($"/api/workflows/{Uri.EscapeDataString(id)}/history"), ListHint);
        if (s.Json)
        {
            Json.Write(s.Out, history);
            return ExitCodes.Ok;
        }
        var table = new Table("VERSION", "APPLIED", "TRANSFORM", "AT POSITION", "FILE");
        foreach (var v in history.Get("versions").Items())
            table.Add("v" + v.Text("version") + (v.Bool("current") ? " *" : ""), v.Time("appliedAt"),
                $"{v.Text("transformPackage")} {v.Text("transformVersion")}".Trim(), v.Text("atPosition"), v.Text("fileName"));
        table.Write(s.Out, $"Count: {table.Count} version(s); * current" + (history.Bool("paused") ? "; the workflow is paused" : ""));
        WorkflowHistoryAutoRollbacks.Write(s, history);
        return ExitCodes.Ok;
    }

    private static async Task<int> LifecycleAsync(Session s, string verb)
    {
        var usage = $"rsctl workflow {verb} <id>";
        var id = s.Line.Word(2, "the workflow id", usage);
        ClusterCommands.Done(s, 3, usage);
        var answer = AdminClient.Expect(await s.Client.PostJsonAsync($"/api/workflows/{Uri.EscapeDataString(id)}/{verb}"), ListHint);
        if (s.Json)
        {
            Json.Write(s.Out, answer);
            return ExitCodes.Ok;
        }
        var changed = answer.Bool("changed");
        var checkpoint = answer.Text("checkpoint");
        s.Out.WriteLine(verb switch
        {
            "pause" when changed => $"workflow {id} paused: drained, checkpoint {checkpoint}; resume it with rsctl workflow resume {id}",
            "pause" => $"workflow {id} was already paused (checkpoint {checkpoint})",
            "resume" when changed => $"workflow {id} resumed from checkpoint {checkpoint}",
            "resume" => $"workflow {id} was not paused",
            _ => $"workflow {id} restarting from checkpoint {checkpoint}",
        });
        return ExitCodes.Ok;
    }

    private static async Task<int> RollbackAsync(Session s)
    {
        const string usage = "rsctl workflow rollback <id> [--to <version>]";
        var id = s.Line.Word(2, "the workflow id", usage);
        var to = s.Line.IntOption("to");
        ClusterCommands.Done(s, 3, usage);
        var path = $"/api/workflows/{Uri.EscapeDataString(id)}/rollback" + (to is null ? "" : $"?to={to}");
        var response = await s.Client.PostJsonAsync(path);
        var answer = AdminClient.Expect(response,
            response.Body.Text("error") == "no such version" ? $"see rsctl workflow history {id}" : ListHint);
        if (s.Json)
        {
            Json.Write(s.Out, answer);
            return ExitCodes.Ok;
        }
        s.Out.WriteLine(answer.Bool("applied")
            ? $"workflow {id} rolled back to the definition of v{answer.Text("rolledBackTo")}, applied as version {answer.Text("version")}"
            : $"workflow {id} unchanged: the definition of v{answer.Text("rolledBackTo")} is the current one (version {answer.Text("version")})");
        return ExitCodes.Ok;
    }

    private const string ListHint = "list them with rsctl workflow list";

    private static string ReadFile(Session s, string path)
    {
        var full = Path.IsPathRooted(path) ? path : Path.Combine(s.Env.WorkingDirectory, path);
        try
        {
            return File.ReadAllText(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CliException.Usage($"cannot read {path}: {e.Message}");
        }
    }

    /// <summary>The workflow id of a definition: its top-level <c>id:</c> (rsctl does not parse YAML; the node validates).</summary>
    internal static string? IdOf(string yaml) =>
        IdLine().Match(yaml) is { Success: true } m ? m.Groups[1].Value.Trim('"', '\'') : null;

    [GeneratedRegex(@"^id:[ \t]*([^\s#]+)", RegexOptions.Multiline)]
    private static partial Regex IdLine();
}
