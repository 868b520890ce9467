using Microsoft.Extensions.Logging.Abstractions;
using RetailStreaming.Connectors.Postgres;

namespace RetailStreaming.Connectors.Tests.Postgres;

/// <summary>A read that waits for a first change itself tells the capture not to sleep after an empty read.</summary>
public sealed class PostgresReadWaitTests
{
    private static PostgresLogicalSource Source(PostgresSourceOptions? options) =>
        new("wf-read-wait", "Host=127.0.0.1;Database=retail", ["tickets"], NullLogger.Instance, options);

    [Fact]
    public async Task A_source_waits_for_changes_unless_its_read_wait_is_zero()
    {
        await using var waiting = Source(null);
        await using var polled = Source(new PostgresSourceOptions { ReadWait = TimeSpan.Zero });

        Assert.True(((IChangeSource)waiting).WaitsForChanges);
        Assert.False(((IChangeSource)polled).WaitsForChanges);
    }
}
