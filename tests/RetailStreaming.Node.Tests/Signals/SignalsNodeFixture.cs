using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using RetailStreaming.Node.Tests.Support;
using RetailStreaming.Store;
using RetailStreaming.Workflows.Observability;

namespace RetailStreaming.Node.Tests.Signals;

/// <summary>
/// A node of its own for the signals tests: JSON logs into <see cref="Logs"/>, an
/// ActivityListener collecting the workflows' spans, a fast cluster sampler, and a webhook
/// endpoint answering 200.
/// </summary>
public sealed class SignalsNodeFixture : IAsyncLifetime
{
    public const string SecretVariable = "RS_SIGNALS_TESTS_WEBHOOK_SECRET";

    private readonly StringWriter _logs = new();
    private Serilog.ILogger? _previousLogger;
    private ActivityListener? _listener;

    public string Root { get; } = TestNode.NewTempDirectory("signals");
    public string Secret { get; } = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
    public WebApplication App { get; private set; } = null!;
    public Uri AdminUrl { get; private set; } = null!;
    public string OperatorToken { get; private set; } = null!;
    public string ClientToken { get; private set; } = null!;
    internal WebhookEndpoint Endpoint { get; private set; } = null!;

    /// <summary>Spans of the <c>RetailStreaming</c> source, as they stop.</summary>
    public ConcurrentQueue<Activity> Spans { get; } = new();

    /// <summary>Every log line the node wrote so far.</summary>
    public string[] LogLines()
    {
        string text;
        lock (_logs) text = _logs.ToString();
        // Only whole lines: the last one may still be being written.
        return text[..(text.LastIndexOf('\n') + 1)].Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    public async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable(SecretVariable, Secret);
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == WorkflowTelemetry.ActivitySourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = Spans.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);

        var options = TestNode.Options(Path.Combine(Root, "node"));
        options.Logging.MinimumLevel = "Information";
        options.Observability.LogFormat = "json";
        options.Observability.ClusterSampleInterval = TimeSpan.FromMilliseconds(500);
        _previousLogger = Serilog.Log.Logger;
        NodeHost.ConfigureLogging(options, TextWriter.Synchronized(new LockedWriter(_logs)));

        Endpoint = await WebhookEndpoint.StartAsync(Secret);
        App = await NodeHost.BuildAsync(options);
        await App.StartAsync();
        AdminUrl = TestNode.BoundAddress(App);
        var tokens = App.Services.GetRequiredService<ITokenStore>();
        (OperatorToken, _) = await tokens.IssueAsync("operator", null, "signals tests operator");
        (ClientToken, _) = await tokens.IssueAsync("client", "shop", "signals tests client");
    }

    public HttpClient Anonymous() => TestNode.Client(AdminUrl);
    public HttpClient Operator() => TestNode.Client(AdminUrl, OperatorToken);
    public HttpClient Client() => TestNode.Client(AdminUrl, ClientToken);

    /// <summary>
    /// A source database with <paramref name="products"/> products (one record each with the sample
    /// transform) and <paramref name="gadgets"/> gadgets (a table the sample transform refuses: each
    /// is dead-lettered at the transform), and a definition capturing both.
    /// </summary>
    public (string Yaml, string Database) Workload(string id, string client, int products, int gadgets)
    {
        var database = RetailSource.CreateDatabase(Root, id, products);
        using (var connection = new SqliteConnection($"Data Source={database};Pooling=False"))
        {
            connection.Open();
            using var cmd = connection.CreateCommand();
            cmd.CommandText = "CREATE TABLE gadgets (id TEXT PRIMARY KEY, name TEXT NOT NULL);";
            cmd.ExecuteNonQuery();
            for (var i = 1; i <= gadgets; i++)
            {
                cmd.CommandText = $"INSERT INTO gadgets (id, name) VALUES ('g-{i}', 'Gadget {i}');";
                cmd.ExecuteNonQuery();
            }
        }
        var yaml = RetailSource.Definition(id, client, database, Endpoint.UrlFor(id), SecretVariable)
            .Replace("tables: [products]", gadgets > 0 ? "tables: [products, gadgets]" : "tables: [products]");
        return (yaml, database);
    }

    public async Task DisposeAsync()
    {
        try
        {
            if (App is not null)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
                await App.StopAsync(timeout.Token);
                await App.DisposeAsync();
            }
            if (Endpoint is not null) await Endpoint.DisposeAsync();
        }
        finally
        {
            _listener?.Dispose();
            if (_previousLogger is not null) Serilog.Log.Logger = _previousLogger;
            await TestNode.DeleteDirectoryAsync(Root);
        }
    }

    /// <summary>Writes into the shared buffer under its lock, so that <see cref="LogLines"/> reads whole lines.</summary>
    private sealed class LockedWriter(StringWriter inner) : TextWriter
    {
        public override System.Text.Encoding Encoding => inner.Encoding;
        public override void Write(char value) { lock (inner) inner.Write(value); }
        public override void Write(string? value) { lock (inner) inner.Write(value); }
        public override void Write(char[] buffer, int index, int count) { lock (inner) inner.Write(buffer, index, count); }
    }
}

[CollectionDefinition(Name)]
public sealed class SignalsCollection : ICollectionFixture<SignalsNodeFixture>
{
    public const string Name = "signals";
}
