using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Logger.Serilog;
using Akka.Remote.Hosting;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;
using RetailStreaming.Node.Admin;
using RetailStreaming.Node.Pages;
using RetailStreaming.Node.Health;
using RetailStreaming.Node.Signals;
using RetailStreaming.Store;
using RetailStreaming.Store.Postgres;
using RetailStreaming.Store.Sqlite;
using RetailStreaming.Workflows;
using RetailStreaming.Workflows.Hosting;
using RetailStreaming.Workflows.Observation;
using RetailStreaming.Workflows.Observability;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace RetailStreaming.Node;

/// <summary>Builds a node: configuration, logs, the platform store, the actor system and the admin API.</summary>
public static class NodeHost
{
    /// <summary>The actor system's name (part of every node address).</summary>
    public const string ActorSystemName = "retailstreaming";

    /// <summary>
    /// Reads the configuration: cluster-config/&lt;environment&gt;.json (environment from
    /// <c>--env</c> or RS_ENVIRONMENT, default local), then environment variables, then the
    /// command line.
    /// </summary>
    public static NodeOptions ReadOptions(string[] args, out IConfiguration configuration)
    {
        var env = ArgValue(args, "--env") ?? Environment.GetEnvironmentVariable("RS_ENVIRONMENT") ?? "local";
        var configDir = Path.Combine(AppContext.BaseDirectory, "cluster-config");
        var file = Path.Combine(configDir, $"{env}.json");
        if (!File.Exists(file))
            throw new FileNotFoundException(
                $"No configuration for environment '{env}': {file} does not exist. Environments: " +
                string.Join(", ", Directory.Exists(configDir) ? Directory.GetFiles(configDir, "*.json").Select(Path.GetFileNameWithoutExtension).Order() : []));
        configuration = new ConfigurationBuilder()
            .AddJsonFile(file, optional: false)
            .AddEnvironmentVariables()
            .AddCommandLine(args.Where(a => a.StartsWith("--RetailStreaming:", StringComparison.Ordinal)).ToArray())
            .Build();
        var options = new NodeOptions();
        configuration.GetSection("RetailStreaming").Bind(options);
        if (string.IsNullOrWhiteSpace(options.Pages.Stage)) options.Pages.Stage = env;
        // A list from the environment replaces the file's whole list (indexed variables,
        // RetailStreaming__Node__SeedNodes__0, would only replace entries one by one).
        if (Environment.GetEnvironmentVariable("RS_SEED_NODES") is { } seeds)
            options.Node.SeedNodes = [.. seeds.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)];
        return options;
    }

    /// <summary>Configures Serilog from the options.</summary>
    /// <param name="options">The node's options (<c>Logging</c>, <c>Observability:LogFormat</c>).</param>
    /// <param name="output">Where JSON lines go instead of the console (tests).</param>
    public static void ConfigureLogging(NodeOptions options, TextWriter? output = null)
    {
        var level = Enum.TryParse<LogEventLevel>(options.Logging.MinimumLevel, true, out var l) ? l : LogEventLevel.Information;
        var config = new LoggerConfiguration()
            .MinimumLevel.Is(level)
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            .MinimumLevel.Override("System", LogEventLevel.Warning)
            .Enrich.FromLogContext();
        config = options.Observability.JsonLogs(options.Logging.Json)
            ? (output is null ? config.WriteTo.Console(new CompactJsonFormatter()) : config.WriteTo.Sink(new Signals.TextWriterLogSink(new CompactJsonFormatter(), output)))
            : config.WriteTo.Console(outputTemplate:
                "[{Timestamp:HH:mm:ss} {Level:u3}]{WorkflowPrefix} {Message:lj}{NewLine}{Exception}")
                .Enrich.With<WorkflowPrefixEnricher>();
        Log.Logger = config.CreateLogger();
    }

    /// <summary>Builds the node's web application (admin API + actor system), ready to run.</summary>
    public static async Task<WebApplication> BuildAsync(NodeOptions options, Action<WebApplicationBuilder>? configure = null)
    {
        options.DeadLetters.Validate();
        options.Pages.Validate();
        options.Cluster.Validate();
        options.Alerts.Validate();
        options.Sla.Validate();
        options.Observability.Validate();
        options.Transforms.Validate();
        Regress.RegressSampleFlusher.Validate(options.Regress);
        Directory.CreateDirectory(options.DataDirectory);
        // Both resolved first: a missing connection string or secret stops the node before anything starts.
        var journalConnectionString = options.JournalConnectionString;
        var storeConnectionString = options.StoreConnectionString;
        if (options.Persistence.IsPostgres)
            CheckPostgresConnectionString(journalConnectionString, "RetailStreaming:Persistence");
        else
            UseWriteAheadLog(journalConnectionString);

        var store = OpenStore(options, storeConnectionString);
        try
        {
            await store.InitializeAsync();
        }
        catch (DbException e)
        {
            store.Dispose();
            throw new InvalidOperationException($"RetailStreaming:Store: the platform store could not be initialized: {e.Message}", e);
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        builder.Logging.ClearProviders();
        builder.Services.AddSerilog();
        builder.WebHost.UseUrls(options.Admin.Url);
        builder.Services.AddSingleton(options);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = NodeCluster.ShutdownTimeout(options));
        builder.Services.AddSingleton<PlatformStore>(store);
        builder.Services.AddSingleton<IDeadLetterStore>(store.DeadLetters);
        builder.Services.AddSingleton<IWorkflowRegistry>(store.Workflows);
        builder.Services.AddSingleton<ITokenStore>(store.Tokens);
        builder.Services.AddSingleton<ITransformPackageRegistry>(store.TransformPackages);
        builder.Services.AddSingleton<IWorkflowConnectors>(sp =>
            new DefaultWorkflowConnectors(options.PackageDirectory, options.PackageCacheDirectory, sp.GetRequiredService<ILoggerFactory>(),
                options.SecretsFile, new PublishedTransformSource(store.TransformPackages), options.Transforms.CreateScheduler()));
        builder.Services.AddSingleton<WorkflowQueries>();
        builder.Services.AddSingleton(new AdminAudit());
        builder.Services.AddSingleton(sp => new DeadLetterRetention(sp.GetRequiredService<IDeadLetterStore>(), options));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DeadLetterRetention>());
        builder.Services.AddNodeHealth(options, journalConnectionString);
        builder.AddNodeSignals(options);
        var samples = Regress.RegressSampleHosting.AddRegressSamples(builder.Services, store, options.Regress);

        builder.Services.AddAkka(ActorSystemName, (akka, services) =>
        {
            akka.AddHocon(PersistenceHocon(options, journalConnectionString), HoconAddMode.Prepend)
                .AddHocon(NodeCluster.Hocon(options), HoconAddMode.Prepend)
                .AddHocon(Akka.Persistence.Sql.SqlPersistence.DefaultConfiguration, HoconAddMode.Append)
                .ConfigureLoggers(loggers =>
                {
                    loggers.ClearLoggers();
                    loggers.AddLogger<SerilogLogger>();
                })
                .WithRemoting(new RemoteOptions
                {
                    HostName = options.Node.Hostname,
                    Port = options.Node.Port,
                    PublicHostName = options.Node.AdvertisedHostname,
                })
                .WithClustering(new ClusterOptions
                {
                    SeedNodes = options.Node.SeedNodes.ToArray(),
                    Roles = options.Node.Roles.ToArray(),
                })
                .AddWorkflows(sp => new WorkflowDependencies(
                    sp.GetRequiredService<IWorkflowConnectors>(),
                    sp.GetRequiredService<IDeadLetterStore>(),
                    sp.GetRequiredService<IWorkflowRegistry>(),
                    options.Workflows,
                    $"{options.Node.AdvertisedHostname}:{options.Node.Port}",
                    sp.GetRequiredService<WorkflowTelemetry>()), services)
                .AddObservations(options.Pages.SampleInterval, options.Pages.TrailRecords)
                .WithActors((system, _) => Workflows.Regress.RegressSamples.Get(system).Recorder = samples)
                .WithActors((system, _) =>
                {
                    // No seed nodes: this node forms its own one-node cluster.
                    if (options.Node.SeedNodes.Count == 0)
                    {
                        var cluster = Akka.Cluster.Cluster.Get(system);
                        cluster.Join(cluster.SelfAddress);
                    }
                });
        });

        configure?.Invoke(builder);
        var app = builder.Build();
        app.MapAdminApi();
        app.MapPages();
        app.MapNodeSignals(options);
        app.Lifetime.ApplicationStopped.Register(store.Dispose);
        return app;
    }

    /// <summary>The platform store on the configured provider.</summary>
    private static PlatformStore OpenStore(NodeOptions options, string connectionString)
    {
        if (!options.Store.IsPostgres)
            return new SqlitePlatformStore(connectionString);
        try
        {
            return new PostgresPlatformStore(connectionString, options.Store.Schema);
        }
        catch (ArgumentException e)
        {
            var key = e.ParamName == "schema" ? "RetailStreaming:Store:Schema" : "RetailStreaming:Store:ConnectionString";
            throw new InvalidOperationException($"{key}: {e.Message}", e);
        }
    }

    /// <summary>A PostgreSQL connection string that does not parse fails here, naming its key, rather than later inside the journal.</summary>
    private static void CheckPostgresConnectionString(string connectionString, string key)
    {
        try
        {
            _ = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException e)
        {
            // The message names the bad keyword, never the string (it may hold the password).
            throw new InvalidOperationException($"{key}:ConnectionString is not a PostgreSQL connection string: {e.Message}", e);
        }
    }

    /// <summary>
    /// Akka.Persistence.Sql (journal and snapshot store, tables created on first start): on SQLite
    /// through linq2db's SQLite.MS provider (Microsoft.Data.Sqlite), on PostgreSQL through its
    /// PostgreSQL.15 provider (Npgsql; right for PostgreSQL 15 and newer).
    /// </summary>
    private static string PersistenceHocon(NodeOptions options, string connectionString) =>
        SqlPersistenceHocon.For(
            options.Persistence.ProviderOf("RetailStreaming:Persistence") == DatabaseProviders.Postgres
                ? SqlPersistenceHocon.PostgreSql
                : SqlPersistenceHocon.Sqlite,
            connectionString);

    /// <summary>The journal file in WAL mode: readers never block the writer (a setting kept in the file).</summary>
    private static void UseWriteAheadLog(string connectionString)
    {
        var csb = new SqliteConnectionStringBuilder(connectionString);
        if (!string.IsNullOrEmpty(csb.DataSource) && csb.DataSource != ":memory:")
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(csb.DataSource))!);
        using var connection = new SqliteConnection(connectionString);
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode=WAL;";
        cmd.ExecuteNonQuery();
    }

    internal static string? ArgValue(string[] args, string name)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == name && i + 1 < args.Length) return args[i + 1];
            if (args[i].StartsWith(name + "=", StringComparison.Ordinal)) return args[i][(name.Length + 1)..];
        }
        return null;
    }
}

/// <summary>Adds " [workflow-id]" to text log lines that carry a WorkflowId.</summary>
internal sealed class WorkflowPrefixEnricher : Serilog.Core.ILogEventEnricher
{
    public void Enrich(LogEvent logEvent, Serilog.Core.ILogEventPropertyFactory factory)
    {
        var prefix = logEvent.Properties.TryGetValue("WorkflowId", out var id) && id is ScalarValue { Value: string s }
            ? $" [{s}]"
            : "";
        logEvent.AddPropertyIfAbsent(factory.CreateProperty("WorkflowPrefix", prefix));
    }
}
