using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// The pages on a real node, loaded in headless Chromium: the operator dashboard, the support view
/// and a client's status page, checked on what their scripts rendered, with screenshots saved under
/// TestResults/RetailStreaming.Integration.Tests/pages (or RS_SCREENSHOT_DIR).
/// </summary>
public sealed class PagesTests : IAsyncLifetime
{
    private const string SecretVariable = "RS_IT_PAGES_SECRET";
    private const string Mine = "it-pages-mine";
    private const string Theirs = "it-pages-theirs";
    private const string OtherClient = "it-pages-other-client";
    private const string RefusedTicket = "T-PAGES-REFUSE";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(90);

    private readonly string _secret = StandardWebhooks.GenerateSecret();
    private readonly string _work = Directory.CreateTempSubdirectory("rs-it-pages-").FullName;
    private NodeProcess _node = null!;

    public async Task InitializeAsync() =>
        _node = await NodeProcess.StartAsync(new Dictionary<string, string>
        {
            [SecretVariable] = _secret,
            // Samples every second, so that the charts have points within the test.
            ["RetailStreaming__Pages__SampleInterval"] = "00:00:01",
            ["RetailStreaming__Pages__Stage"] = "staging",
        }, name: "pages-node");

    public async Task DisposeAsync()
    {
        if (_node is not null) await _node.DisposeAsync();
        NodeBinaries.TryDelete(_work);
    }

    internal static string ScreenshotDirectory
    {
        get
        {
            if (Environment.GetEnvironmentVariable("RS_SCREENSHOT_DIR") is { Length: > 0 } dir) return dir;
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d is not null && !File.Exists(Path.Combine(d.FullName, "RetailStreaming.sln"))) d = d.Parent;
            return Path.Combine(d?.FullName ?? Path.GetTempPath(), "TestResults", "RetailStreaming.Integration.Tests", "pages");
        }
    }

    [Fact]
    public async Task Dashboard_support_view_and_client_status_show_the_workflows_and_a_record_path_and_the_client_page_shows_no_other_client()
    {
        await using var receiver = await WebhookReceiver.StartAsync(_secret, refuse: r => r.DataString("ticketId") == RefusedTicket);
        using var mineDb = RetailClientDatabase.Create(Path.Combine(_work, "mine.db"));
        using var theirsDb = RetailClientDatabase.Create(Path.Combine(_work, "theirs.db"));
        foreach (var (id, db, client) in new[] { (Mine, mineDb, WorkflowFile.ClientId), (Theirs, theirsDb, OtherClient) })
        {
            var yaml = WorkflowFile.Retail(id, db, receiver.Url, SecretVariable).Replace($"client: {WorkflowFile.ClientId}", $"client: {client}");
            var (status, body) = await _node.ApplyWorkflowAsync(yaml, id + ".yaml");
            Assert.True(status == HttpStatusCode.OK, $"applying {id} answered {(int)status}: {body}\n{_node.OutputTail()}");
            await Eventually.UntilAsync($"{id}'s capture is installed", TimeSpan.FromSeconds(30), () => db.CaptureInstalled(id), () => _node.OutputTail());
        }
        mineDb.Write(w =>
        {
            w.InsertProduct("SKU-00001", "Coffee", 3.5, "grocery");
            for (var t = 1; t <= 20; t++) w.InsertTicket($"T-PAGES-{t:D4}", "S001", "SKU-00001", 1, 3.5);
            w.InsertTicket(RefusedTicket, "S001", "SKU-00001", 2, 3.5);
        });
        theirsDb.Write(w => w.InsertTicket("T-THEIRS-0001", "S009", "SKU-00009", 1, 9.0));
        await Eventually.UntilAsync("both workflows delivered and the refused ticket is dead-lettered", Wait, async () =>
        {
            var mine = await _node.WorkflowStatusAsync(Mine);
            var theirs = await _node.WorkflowStatusAsync(Theirs);
            return mine is { } m && m.GetProperty("deliveredRecords").GetInt64() >= 21 && m.GetProperty("deadLetters").GetInt64() == 1
                && theirs is { } t && t.GetProperty("deliveredRecords").GetInt64() >= 1;
        }, () => _node.OutputTail());
        // A few samples after the deliveries: the charts have a line to draw.
        await Eventually.UntilAsync("the node has sampled the workflows several times", Wait, async () =>
        {
            var samples = await _node.GetJsonAsync("/api/samples?minutes=5");
            return samples.GetProperty("samples").EnumerateArray().Count(s => s.GetProperty("workflowId").GetString() == Mine) >= 4;
        }, () => _node.OutputTail());

        // The client's token and what the API gives it.
        using var issued = await _node.Admin.PostAsJsonAsync("/api/tokens", new { role = "client", clientId = WorkflowFile.ClientId, description = "pages test" });
        Assert.Equal(HttpStatusCode.Created, issued.StatusCode);
        var clientToken = (await issued.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("secret").GetString()!;
        using (var asClient = _node.CreateClient(clientToken))
        {
            var samples = await asClient.GetFromJsonAsync<JsonElement>("/api/samples?minutes=60");
            Assert.All(samples.GetProperty("samples").EnumerateArray(), s => Assert.Equal(Mine, s.GetProperty("workflowId").GetString()));
            Assert.Equal(HttpStatusCode.NotFound, (await asClient.GetAsync($"/api/samples?workflow={Theirs}")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await asClient.GetAsync($"/api/workflows/{Theirs}/records?key=T-THEIRS-0001")).StatusCode);
        }

        var shots = ScreenshotDirectory;
        await using var browser = await HeadlessChromium.StartAsync();
        var ui = new Uri(_node.AdminUrl, "/ui/").ToString();

        // Operator dashboard: the token arrives in the fragment, is kept in the tab and leaves the address bar.
        await browser.NavigateAsync(ui + "#token=" + Uri.EscapeDataString(_node.OperatorToken));
        await browser.WaitForTextAsync(Wait, Mine, Theirs, WorkflowFile.ClientId, OtherClient, "stage: staging",
            "delivering", "RetailStreaming.Samples.Retail 1.0.0", "Up", "reachable", "workflow", "Throughput", "Source lag");
        Assert.DoesNotContain(_node.OperatorToken, await browser.EvaluateAsync<string>("location.href") ?? "");
        Assert.Equal(_node.OperatorToken, await browser.EvaluateAsync<string>("sessionStorage.getItem('rs.token')"));
        var dashboard = await browser.TextAsync();
        Assert.Contains("deployed", dashboard, StringComparison.OrdinalIgnoreCase);
        Assert.Matches(@"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", dashboard); // deploy times
        await Eventually.UntilAsync("the throughput chart draws the workflow's line", Wait,
            async () => await browser.EvaluateAsync<int>("document.querySelectorAll('#charts path').length") >= 2,
            () => string.Join('\n', browser.PageErrors));
        var deliveredCell = await browser.EvaluateAsync<string>($"document.querySelector('tr[data-workflow=\"{Mine}\"] td:nth-child(6)').textContent");
        Assert.Equal("21", deliveredCell);
        await browser.ScreenshotAsync(Path.Combine(shots, "dashboard.png"));

        // Support view: the path of a delivered ticket...
        await browser.NavigateAsync(new Uri(_node.AdminUrl, $"/ui/support?workflow={Mine}&key=T-PAGES-0005").ToString());
        await browser.WaitForTextAsync(Wait, "1 change(s) and 0 dead letter(s) for key T-PAGES-0005", "committed in the source",
            "captured 20", "transform version 1.0.0: 1 record(s)", "delivered: the endpoint accepted it", "Reach:");
        await browser.ScreenshotAsync(Path.Combine(shots, "support-delivered.png"));
        // ...and of the refused one, with its dead letter and the endpoint's answer.
        await browser.NavigateAsync(new Uri(_node.AdminUrl, $"/ui/support?workflow={Mine}&key={RefusedTicket}&table=tickets").ToString());
        await browser.WaitForTextAsync(Wait, "1 change(s) and 1 dead letter(s)", "refused by the endpoint: dead-lettered",
            "Dead letter #", "400", "refused by the test endpoint");
        await browser.ScreenshotAsync(Path.Combine(shots, "support-dead-letter.png"));

        // The client's page with the client's token: its workflow in plain words, nothing of the other client.
        await browser.NavigateAsync(new Uri(_node.AdminUrl, "/ui/status").ToString() + "#token=" + Uri.EscapeDataString(clientToken));
        await browser.WaitForTextAsync(Wait, "Workflows of " + WorkflowFile.ClientId, Mine, "delivering", "in the last hour", "1 records set aside");
        var html = await browser.EvaluateAsync<string>("document.documentElement.outerHTML") ?? "";
        Assert.DoesNotContain(Theirs, html);
        Assert.DoesNotContain(OtherClient, html);
        Assert.DoesNotContain("T-THEIRS", html);
        await browser.ScreenshotAsync(Path.Combine(shots, "client-status.png"));

        Assert.True(browser.PageErrors.Count == 0, "the pages raised errors:\n" + string.Join('\n', browser.PageErrors));
        foreach (var png in new[] { "dashboard.png", "support-delivered.png", "support-dead-letter.png", "client-status.png" })
            Assert.True(new FileInfo(Path.Combine(shots, png)).Length > 10_000, $"{png} is (nearly) empty");
    }

    [Fact]
    public async Task Pages_load_without_a_token_and_ask_for_one_and_serve_only_their_own_files_with_a_strict_policy()
    {
        using var anonymous = _node.CreateClient(bearerToken: null);
        foreach (var path in new[] { "/ui/", "/ui/support", "/ui/status", "/ui/app.js", "/ui/app.css" })
        {
            using var response = await anonymous.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode}");
            Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single());
        }
        Assert.Equal(HttpStatusCode.NotFound, (await anonymous.GetAsync("/ui/../NodeHost.cs")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/api/samples")).StatusCode);

        await using var browser = await HeadlessChromium.StartAsync(900, 600);
        await browser.NavigateAsync(new Uri(_node.AdminUrl, "/ui/").ToString());
        await browser.WaitForTextAsync(Wait, "Operator dashboard: sign in", "Sign in");
        // A wrong token is refused by the API and the form comes back.
        await browser.EvaluateAsync<object>("document.getElementById('token-input').value = 'rst_wrong'; document.querySelector('#login-form button').click(); 0");
        await Eventually.UntilAsync("the page reloaded", Wait, async () => await browser.EvaluateAsync<string>("document.readyState") == "complete", () => "");
        await browser.WaitForTextAsync(Wait, "Operator dashboard: sign in");
        Assert.Null(await browser.EvaluateAsync<string>("sessionStorage.getItem('rs.token')"));
        await browser.ScreenshotAsync(Path.Combine(ScreenshotDirectory, "sign-in.png"));
    }
}
