using System.Text;
using RetailStreaming.Connectors;
using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Workflows.Hosting;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// A workflow delivering through the node's real webhook sink to a real endpoint: secrets from the
/// environment and the node's secrets file (rotation), the circuit breaker in the status, refused
/// records dead-lettered with their attempts, and no secret in the journal.
/// </summary>
public sealed class WebhookWorkflowTests(ITestOutputHelper output) : WorkflowTestKit(output), IAsyncLifetime
{
    private const string Id = "orders-webhook";
    private readonly string _newSecret = StandardWebhooks.GenerateSecret();
    private readonly string _oldSecret = StandardWebhooks.GenerateSecret();
    private readonly string _variable = "RS_TEST_WEBHOOK_" + Guid.NewGuid().ToString("N");
    private HttpEndpoint _endpoint = null!;
    private DefaultWorkflowConnectors _real = null!;
    private RecordingDeadLetters _deadLetters = null!;

    public async Task InitializeAsync()
    {
        _endpoint = await HttpEndpoint.StartAsync();
        Environment.SetEnvironmentVariable(_variable, _newSecret);
        var secretsFile = Path.Combine(Directory.Path, "secrets.env");
        File.WriteAllText(secretsFile, $"# rotation in progress\nacme_webhook_old={_oldSecret}\n");
        File.SetUnixFileMode(secretsFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _real = new DefaultWorkflowConnectors(Path.Combine(Directory.Path, "packages"), Path.Combine(Directory.Path, "cache"), secretsFile: secretsFile);
        _deadLetters = new RecordingDeadLetters(Store.DeadLetters);
    }

    public async Task DisposeAsync()
    {
        Environment.SetEnvironmentVariable(_variable, null);
        _real.Dispose();
        await _endpoint.DisposeAsync();
    }

    private Akka.Actor.IActorRef Node() =>
        StartNode(deps: Deps with { Connectors = new WebhookConnectors(Connectors, _real), DeadLetters = _deadLetters });

    private string Definition(string secretRefs = "", string extra = "") =>
        Yaml(Id, maxRecords: 10).Replace("""
              url: http://127.0.0.1:9/hooks
              secretRef: env:ACME_WEBHOOK_SECRET
            """, $"""
              url: {_endpoint.Url}
              secretRefs: {(secretRefs.Length > 0 ? secretRefs : $"[env:{_variable}, file:acme_webhook_old]")}
              retry: {"{"} initialBackoff: 20ms, maxBackoff: 100ms {"}"}
              circuitBreaker: {"{"} failureThreshold: 3, coolDown: 500ms {"}"}
              compression: gzip
            {extra}
            """);

    [Fact]
    public async Task Both_secrets_sign_every_request_a_refused_record_is_dead_lettered_with_its_attempts_and_the_journal_holds_no_secret()
    {
        _endpoint.Secrets = [_oldSecret];
        var refused = MemoryChangeLog.PositionOf(7).Value;
        _endpoint.Answer = positions => positions.Contains(refused) ? 422 : 200;
        Connectors.Source(Id).Append(30);
        var node = Node();
        await ApplyAsync(node, Id, Definition());

        var status = await AwaitStatusAsync(node, Id, s => s.Checkpoint == MemoryChangeLog.PositionOf(30).Value, "every change delivered or dead-lettered");

        Assert.Equal(1, status.DeadLetters);
        var expected = Enumerable.Range(1, 30).Where(n => n != 7).Select(n => MemoryChangeLog.PositionOf(n).Value);
        Assert.Equal(expected, _endpoint.Accepted);
        // A receiver holding only the old secret verified every request; one holding the new one would too.
        Assert.All(_endpoint.Requests, r => Assert.Equal([_oldSecret], r.VerifiedBy));

        var letter = Assert.Single(_deadLetters.Added);
        Assert.Equal(refused, letter.Position);
        Assert.StartsWith("HTTP 422", letter.Reason);
        Assert.NotNull(letter.Attempts);
        Assert.Equal(_endpoint.Requests.Count(r => r.Positions.Contains(refused)), letter.Attempts!.Count);
        Assert.All(letter.Attempts, a => Assert.Equal(422, a.StatusCode));
        Assert.Contains($"refused {refused}", letter.Attempts[^1].Detail);

        Assert.Equal(EndpointHealth.Closed, status.Endpoint?.Circuit);
        Assert.Equal(_endpoint.Url, status.Endpoint?.Url);

        // The journal holds the definition with its references, never a secret's value.
        var journal = File.ReadAllBytes(Directory.JournalPath);
        var wal = File.Exists(Directory.JournalPath + "-wal") ? File.ReadAllBytes(Directory.JournalPath + "-wal") : [];
        foreach (var secret in new[] { _newSecret, _oldSecret })
        {
            var key = Encoding.UTF8.GetBytes(secret["whsec_".Length..]);
            Assert.Equal(-1, journal.AsSpan().IndexOf(key));
            Assert.Equal(-1, wal.AsSpan().IndexOf(key));
        }
        Assert.True(journal.AsSpan().IndexOf(Encoding.UTF8.GetBytes("file:acme_webhook_old")) >= 0
                    || wal.AsSpan().IndexOf(Encoding.UTF8.GetBytes("file:acme_webhook_old")) >= 0,
            "the definition (with its references) should be in the journal");
    }

    [Fact]
    public async Task The_circuit_opens_while_the_endpoint_fails_shows_in_the_status_and_closes_once_it_recovers()
    {
        _endpoint.Secrets = [_newSecret];
        _endpoint.Answer = _ => 500;
        Connectors.Source(Id).Append(20);
        var node = Node();
        await ApplyAsync(node, Id, Definition());

        var open = await AwaitStatusAsync(node, Id, s => s.Endpoint?.Circuit == EndpointHealth.Open, "the circuit open");
        Assert.True(open.Endpoint!.ConsecutiveFailures >= 3);
        Assert.NotNull(open.Endpoint.OpenUntil);
        Assert.Equal(0, open.DeliveredChanges);

        _endpoint.Answer = _ => 200;
        var closed = await AwaitStatusAsync(node, Id,
            s => s.Endpoint?.Circuit == EndpointHealth.Closed && s.Checkpoint == MemoryChangeLog.PositionOf(20).Value,
            "the circuit closed and every change delivered");
        Assert.Equal(0, closed.DeadLetters);
        Assert.Equal(Enumerable.Range(1, 20).Select(n => MemoryChangeLog.PositionOf(n).Value), _endpoint.Accepted);
    }

    [Fact]
    public async Task A_missing_secret_stops_the_start_with_an_error_naming_it_and_no_value()
    {
        _endpoint.Secrets = [_newSecret];
        Connectors.Source(Id).Append(3);
        var node = Node();
        await ApplyAsync(node, Id, Definition($"[env:{_variable}, file:acme_webhook_older]"));

        var status = await AwaitStatusAsync(node, Id, s => s.LastError is not null, "the start to fail");

        Assert.Contains("delivery.secretRefs[1]: secret 'acme_webhook_older' is not in the node's secrets file", status.LastError);
        Assert.DoesNotContain(_newSecret["whsec_".Length..], status.LastError);
        Assert.DoesNotContain(_oldSecret["whsec_".Length..], status.LastError);
        Assert.Empty(_endpoint.Requests);
    }

    [Fact]
    public async Task A_malformed_secret_is_named_by_its_field_and_not_quoted()
    {
        Environment.SetEnvironmentVariable(_variable, "sk_live_not-a-webhook-secret");
        Connectors.Source(Id).Append(3);
        var node = Node();
        await ApplyAsync(node, Id, Definition());

        var status = await AwaitStatusAsync(node, Id, s => s.LastError is not null, "the start to fail");

        Assert.Contains("delivery.secretRefs[0]: The webhook signing secret does not start with 'whsec_'", status.LastError);
        Assert.DoesNotContain("not-a-webhook-secret", status.LastError);
    }
}
