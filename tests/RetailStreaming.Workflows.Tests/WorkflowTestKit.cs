using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence.Sql;
using Akka.TestKit.Xunit2;
using Microsoft.Data.Sqlite;
using RetailStreaming.Connectors;
using RetailStreaming.Store.Sqlite;
using RetailStreaming.Workflows.Hosting;
using RetailStreaming.Workflows.Protocol;
using RetailStreaming.Workflows.Serialization;
using RetailStreaming.Workflows.Tests.Fakes;
using Xunit.Abstractions;
using Xunit.Sdk;

// The stream tests measure progress and bounds over time on 2 cores; run one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace RetailStreaming.Workflows.Tests;

/// <summary>
/// An actor system as a node runs it, without a cluster: Akka.Persistence.Sql on a SQLite file of
/// the test's own, the platform serializer bound, the platform store on a second SQLite file, and
/// <see cref="GenericChildPerEntityParent"/> in place of the shard region.
/// </summary>
public abstract class WorkflowTestKit : TestKit
{
    /// <summary>Small bounds and short intervals, so that tests are fast.</summary>
    public static WorkflowSettings FastSettings { get; } = new()
    {
        QueueSize = 32,
        CheckpointEveryChanges = 100,
        CheckpointInterval = TimeSpan.FromMilliseconds(200),
        SnapshotEveryEvents = 5,
        RestartMinBackoff = TimeSpan.FromMilliseconds(100),
        RestartMaxBackoff = TimeSpan.FromSeconds(1),
        DrainTimeout = TimeSpan.FromSeconds(10),
        LagInterval = TimeSpan.FromMilliseconds(500),
        TransformAskSlack = TimeSpan.FromSeconds(10),
    };

    protected WorkflowTestKit(ITestOutputHelper output) : this(new TestDirectory(), output)
    {
    }

    private WorkflowTestKit(TestDirectory directory, ITestOutputHelper output)
        : base(SystemConfig(directory), "workflows", output)
    {
        Directory = directory;
        Store = new SqlitePlatformStore(directory.PlatformStorePath);
        Store.InitializeAsync().GetAwaiter().GetResult();
        Deps = new WorkflowDependencies(Connectors, Store.DeadLetters, Store.Workflows, FastSettings, "test-node");
    }

    protected TestDirectory Directory { get; }

    protected SqlitePlatformStore Store { get; }

    protected FakeConnectors Connectors { get; } = new();

    protected WorkflowDependencies Deps { get; }

    /// <summary>The HOCON of a node on <paramref name="directory"/>'s journal file.</summary>
    protected static Config SystemConfig(TestDirectory directory)
    {
        // CI on 2 cores stretches every TestKit timeout (scripts/test.sh sets RS_TEST_TIMEFACTOR).
        var timeFactor = double.TryParse(Environment.GetEnvironmentVariable("RS_TEST_TIMEFACTOR"),
            System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var f) && f >= 1 ? f : 1;
        return ConfigurationFactory.ParseString($$"""
                akka.loglevel = INFO
                akka.test.timefactor = {{timeFactor.ToString(System.Globalization.CultureInfo.InvariantCulture)}}
                """)
            .WithFallback(ConfigurationFactory.ParseString(SqlPersistenceHocon.For(SqlPersistenceHocon.Sqlite, directory.JournalConnectionString)))
            .WithFallback(ConfigurationFactory.ParseString(RetailStreamingSerializer.Hocon))
            .WithFallback(SqlPersistence.DefaultConfiguration);
    }

    /// <summary>The stand-in for the <c>workflow</c> shard region on <paramref name="system"/> (the test's system by default).</summary>
    protected IActorRef StartNode(ActorSystem? system = null, WorkflowDependencies? deps = null)
    {
        var d = deps ?? Deps;
        return (system ?? Sys).ActorOf(
            GenericChildPerEntityParent.Props(new WorkflowMessageExtractor(), id => WorkflowActor.Props(id, d)),
            "workflow");
    }

    /// <summary>A valid definition whose source and delivery the fake connectors ignore.</summary>
    public static string Yaml(
        string id,
        string transformVersion = "1.0.0",
        int batchSize = 100,
        int maxRecords = 20,
        string maxWait = "30ms",
        string client = "acme",
        string pollInterval = "50ms") => $$"""
        id: {{id}}
        client: {{client}}
        source:
          kind: sqlite
          connection: "Data Source=/nonexistent/{{id}}.db"
          tables: [tickets]
          batchSize: {{batchSize}}
          pollInterval: {{pollInterval}}
        transform:
          package: Acme.Transforms
          version: {{transformVersion}}
          type: Acme.Transforms.TicketTransform
          timeBudget: 2s
        delivery:
          kind: webhook
          url: http://127.0.0.1:9/hooks
          secretRef: env:ACME_WEBHOOK_SECRET
          batching: { maxRecords: {{maxRecords}}, maxWait: {{maxWait}} }

        """;

    /// <summary>Applies a definition and expects it recorded as <paramref name="version"/>.</summary>
    protected async Task ApplyAsync(IActorRef node, string id, string yaml, int version = 1)
    {
        var reply = await node.Ask<object>(new WorkflowCommands.ApplyDefinition(id, yaml, id + ".yaml"), Dilated(TimeSpan.FromSeconds(15)));
        var applied = Assert.IsType<WorkflowReplies.DefinitionApplied>(reply);
        Assert.Equal(version, applied.Version);
    }

    /// <summary>The workflow's status now.</summary>
    protected async Task<WorkflowStatus> StatusAsync(IActorRef node, string id) =>
        await node.Ask<WorkflowStatus>(new WorkflowCommands.GetStatus(id), Dilated(TimeSpan.FromSeconds(5)));

    /// <summary>Polls the status until <paramref name="condition"/> holds; fails with the last status seen.</summary>
    protected async Task<WorkflowStatus> AwaitStatusAsync(
        IActorRef node, string id, Func<WorkflowStatus, bool> condition, string what, TimeSpan? max = null)
    {
        WorkflowStatus? last = null;
        await AwaitAssertAsync(async () =>
        {
            try
            {
                last = await StatusAsync(node, id);
            }
            catch (AskTimeoutException)
            {
                // The entity may be stopping or recovering; ask again.
            }
            Assert.True(last is not null && condition(last), $"waiting for {what}; last status: {last}");
        }, max ?? TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50));
        return last!;
    }

    /// <summary>
    /// Every change 1..<paramref name="count"/> was accepted; in the order of first delivery they are
    /// in source order; a position is delivered again only after a rebuild of the stream (at most one
    /// step back per restart), never out of order otherwise.
    /// </summary>
    protected static void AssertCompleteAndOrdered(IReadOnlyList<DeliveryRecord> accepted, long count, int restarts)
    {
        var sequence = accepted.Select(r => MemoryChangeLog.SequenceOf(r.Position)).ToList();
        var firsts = sequence.Distinct().ToList();
        Assert.Equal(Enumerable.Range(1, (int)count).Select(i => (long)i), firsts);
        var stepsBack = sequence.Zip(sequence.Skip(1)).Count(p => p.Item2 <= p.Item1);
        if (stepsBack > restarts)
            throw new XunitException($"{stepsBack} steps back in the delivered positions with only {restarts} restarts: {string.Join(",", sequence)}");
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (!disposing) return;
        Store.Dispose();
        Directory.Dispose();
    }
}

/// <summary>A temporary directory with the test's journal and platform store files.</summary>
public sealed class TestDirectory : IDisposable
{
    public TestDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "rs-workflow-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Path);
        JournalPath = System.IO.Path.Combine(Path, "journal.db");
        JournalConnectionString = new SqliteConnectionStringBuilder { DataSource = JournalPath }.ToString();
        // As the node does: WAL, so that the journal's and the snapshot store's connections do not block each other.
        using var connection = new SqliteConnection(JournalConnectionString);
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode=WAL;";
        cmd.ExecuteNonQuery();
    }

    public string Path { get; }

    public string JournalPath { get; }

    public string JournalConnectionString { get; }

    public string PlatformStorePath => System.IO.Path.Combine(Path, "platform.db");

    /// <summary>Runs a scalar query on the journal file (to see what the plugin wrote).</summary>
    public long JournalScalar(string sql)
    {
        using var connection = new SqliteConnection(JournalConnectionString);
        connection.Open();
        using var cmd = connection.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar());
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try
        {
            System.IO.Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A connection of a plugin still closing; the OS temp cleaner takes it.
        }
    }
}
