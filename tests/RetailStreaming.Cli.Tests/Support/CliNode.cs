using System.Security.Cryptography;
using RetailStreaming.Node;
using RetailStreaming.Node.Admin;
using Serilog;
using RetailStreaming.Store;

namespace RetailStreaming.Cli.Tests.Support;

/// <summary>What one rsctl run printed and returned.</summary>
public sealed record CliRun(int ExitCode, string Out, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}--- stderr\n{Error}";
}

/// <summary>
/// A one-node cluster started in-process (a temp data directory, its admin API on a free port), an
/// operator token, a webhook endpoint for the workflows the tests apply, and rsctl run in-process
/// against it with a contexts file of its own.
/// </summary>
public class CliNode : IAsyncLifetime
{
    /// <summary>The environment variable the workflows' <c>secretRef</c> names.</summary>
    public const string SecretVariable = "RS_CLI_TESTS_WEBHOOK_SECRET";

    private static readonly string Secret = "whsec_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public string Root { get; } = TestNode.NewTempDirectory("node");
    public WebApplication App { get; private set; } = null!;
    public Uri AdminUrl { get; private set; } = null!;
    public string OperatorToken { get; private set; } = null!;
    public string OperatorTokenId { get; private set; } = null!;
    internal WebhookEndpoint Endpoint { get; private set; } = null!;

    /// <summary>The node's audit log (every mutating admin call).</summary>
    public AuditSink Audit { get; } = new();

    /// <summary>The contexts file rsctl reads (never the user's own).</summary>
    public string ConfigPath => Path.Combine(Root, "rsctl", "config.json");

    public ITokenStore Tokens => App.Services.GetRequiredService<ITokenStore>();

    public virtual async Task InitializeAsync()
    {
        Environment.SetEnvironmentVariable(SecretVariable, Secret);
        Endpoint = await WebhookEndpoint.StartAsync(Secret);
        var options = TestNode.Options(Path.Combine(Root, "node"));
        Configure(options);
        App = await NodeHost.BuildAsync(options, builder =>
            builder.Services.AddSingleton(new AdminAudit(new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(Audit).CreateLogger())));
        await App.StartAsync();
        AdminUrl = TestNode.BoundAddress(App);
        var (secret, info) = await Tokens.IssueAsync("operator", null, "cli tests operator");
        (OperatorToken, OperatorTokenId) = (secret, info.Id);
        using var http = TestNode.Client(AdminUrl);
        await TestNode.EventuallyAsync(async () => (await http.GetAsync("/health/ready")).IsSuccessStatusCode, ok => ok,
            TimeSpan.FromSeconds(30), "the node ready");
    }

    /// <summary>Changes the node's options before it starts (a node of a test's own).</summary>
    protected virtual void Configure(NodeOptions options)
    {
    }

    /// <summary>Runs rsctl with <c>--node</c> and, when given, <c>--token</c>.</summary>
    public Task<CliRun> RsctlAsync(string? token, params string[] args) =>
        RsctlRawAsync(token is null ? [.. args, "--node", AdminUrl.ToString()] : [.. args, "--node", AdminUrl.ToString(), "--token", token]);

    /// <summary>Runs rsctl as the operator.</summary>
    public Task<CliRun> OperatorAsync(params string[] args) => RsctlAsync(OperatorToken, args);

    /// <summary>Runs rsctl with exactly <paramref name="args"/> (no node given) and <paramref name="variables"/> as its environment.</summary>
    public Task<CliRun> RsctlRawAsync(string[] args, IReadOnlyDictionary<string, string>? variables = null) =>
        RunRsctlAsync(args, ConfigPath, Root, variables);

    /// <summary>Runs rsctl in-process with its own contexts file and working directory, and nothing else of this process's environment.</summary>
    /// <param name="output">Standard output, when the test reads it while rsctl runs (<c>cluster tail</c>).</param>
    /// <param name="interrupted">Ctrl+C.</param>
    public static async Task<CliRun> RunRsctlAsync(string[] args, string configPath, string workingDirectory,
        IReadOnlyDictionary<string, string>? variables = null, SharedWriter? output = null, CancellationToken interrupted = default)
    {
        var stdout = output ?? new SharedWriter();
        var error = new SharedWriter();
        var env = new CliEnvironment(stdout, error,
            name => name == "RSCTL_CONFIG" ? configPath : variables?.GetValueOrDefault(name),
            workingDirectory, null, interrupted);
        var code = await Rsctl.RunAsync(args, env);
        return new CliRun(code, stdout.ToString(), error.ToString());
    }

    /// <summary>A new source database for one workflow, and its definition file (written under <see cref="Root"/>); returns the file name.</summary>
    public string WriteDefinition(string id, string client, int rows = 2, string maxWait = "50ms")
    {
        var database = RetailSource.CreateDatabase(Root, id, rows);
        var file = id + ".yaml";
        File.WriteAllText(Path.Combine(Root, file), RetailSource.Definition(id, client, database, Endpoint.UrlFor(id), SecretVariable, maxWait));
        return file;
    }

    /// <summary>Another definition file of a workflow made by <see cref="WriteDefinition"/> (same database and hook), as <c>&lt;id&gt;-&lt;suffix&gt;.yaml</c>.</summary>
    public string WriteDefinitionVariant(string id, string client, string suffix, string maxWait)
    {
        var file = $"{id}-{suffix}.yaml";
        File.WriteAllText(Path.Combine(Root, file), RetailSource.Definition(id, client, DatabaseOf(id), Endpoint.UrlFor(id), SecretVariable, maxWait));
        return file;
    }

    /// <summary>The source database of a workflow made by <see cref="WriteDefinition"/>.</summary>
    public string DatabaseOf(string id) => Path.Combine(Root, id + ".db");

    public virtual async Task DisposeAsync()
    {
        try
        {
            if (App is not null)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await App.StopAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                }
                await App.DisposeAsync();
            }
            if (Endpoint is not null) await Endpoint.DisposeAsync();
        }
        finally
        {
            await TestNode.DeleteDirectoryAsync(Root);
        }
    }
}

/// <summary>A text writer that the test may read while rsctl writes to it from another thread.</summary>
public sealed class SharedWriter : TextWriter
{
    private readonly System.Text.StringBuilder _text = new();

    public SharedWriter() => NewLine = "\n";

    public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

    public override void Write(char value)
    {
        lock (_text) _text.Append(value);
    }

    public override void Write(string? value)
    {
        lock (_text) _text.Append(value);
    }

    public override string ToString()
    {
        lock (_text) return _text.ToString();
    }
}

/// <summary>The tests sharing one <see cref="CliNode"/>; they run one after the other.</summary>
[CollectionDefinition(Name)]
public sealed class CliNodeCollection : ICollectionFixture<CliNode>
{
    public const string Name = "cli node";
}
