using RetailStreaming.Connectors.Webhooks;
using RetailStreaming.Integration.Tests.Harness;

namespace RetailStreaming.Integration.Tests;

/// <summary>
/// One node process shared by the tests that do not crash it (each uses its own workflow, client
/// database and receiver): a node start costs a few seconds.
/// </summary>
public sealed class SharedNodeFixture : IAsyncLifetime
{
    /// <summary>The environment variable the node reads the webhook signing secret from.</summary>
    public const string SecretVariable = "RS_IT_WEBHOOK_SECRET";

    /// <summary>The signing secret of every workflow on this node.</summary>
    public string Secret { get; } = StandardWebhooks.GenerateSecret();

    /// <summary>A temporary folder for the tests' client databases.</summary>
    public string WorkDirectory { get; } = Directory.CreateTempSubdirectory("rs-it-work-").FullName;

    /// <summary>The node.</summary>
    public NodeProcess Node { get; private set; } = null!;

    /// <inheritdoc />
    public async Task InitializeAsync() =>
        Node = await NodeProcess.StartAsync(new Dictionary<string, string> { [SecretVariable] = Secret }, name: "shared-node");

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        if (Node is not null) await Node.DisposeAsync();
        NodeBinaries.TryDelete(WorkDirectory);
    }
}

/// <summary>The tests sharing <see cref="SharedNodeFixture"/>; they run one after the other.</summary>
[CollectionDefinition(Name)]
public sealed class SharedNodeCollection : ICollectionFixture<SharedNodeFixture>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "shared node";
}
