using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace RetailStreaming.Node.Health;

/// <summary>Whether the journal's database answers: part of readiness, since a workflow cannot persist a checkpoint without it.</summary>
public sealed class JournalProbe(bool postgres, string connectionString)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    /// <summary>Null when the journal answered <c>SELECT 1</c> within 3 s, else why not (never with the connection string).</summary>
    public async Task<string?> ProblemAsync(CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(Timeout);
        try
        {
            await using DbConnection connection = postgres
                ? new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Timeout = 3 }.ToString())
                : new SqliteConnection(new SqliteConnectionStringBuilder(connectionString) { Mode = SqliteOpenMode.ReadWrite }.ToString());
            await connection.OpenAsync(cts.Token).ConfigureAwait(false);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT 1";
            await command.ExecuteScalarAsync(cts.Token).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (e is DbException or OperationCanceledException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
        {
            return e is OperationCanceledException ? $"the journal did not answer within {Timeout.TotalSeconds:0}s" : $"the journal is unreachable: {e.Message}";
        }
    }
}
