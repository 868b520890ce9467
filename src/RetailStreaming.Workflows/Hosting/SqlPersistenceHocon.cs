namespace RetailStreaming.Workflows.Hosting;

/// <summary>
/// The HOCON that puts the workflows' journal and snapshot store on Akka.Persistence.Sql, shared
/// by the node and by the tests that build actor systems without Akka.Hosting. Combine it with
/// <c>SqlPersistence.DefaultConfiguration</c> as a fallback (the plugin's own defaults).
/// </summary>
public static class SqlPersistenceHocon
{
    /// <summary>linq2db's provider name for Microsoft.Data.Sqlite.</summary>
    public const string Sqlite = "SQLite.MS";

    /// <summary>linq2db's provider name for PostgreSQL 15 and later.</summary>
    public const string PostgreSql = "PostgreSQL.15";

    /// <summary>Journal and snapshot store on <paramref name="connectionString"/> through <paramref name="providerName"/>.</summary>
    public static string For(string providerName, string connectionString)
    {
        var cs = connectionString.Replace("\\", "\\\\").Replace("\"", "\\\"");
        return $$"""
            akka.persistence {
              journal {
                plugin = "akka.persistence.journal.sql"
                sql {
                  class = "Akka.Persistence.Sql.Journal.SqlWriteJournal, Akka.Persistence.Sql"
                  connection-string = "{{cs}}"
                  provider-name = "{{providerName}}"
                  auto-initialize = true
                }
              }
              snapshot-store {
                plugin = "akka.persistence.snapshot-store.sql"
                sql {
                  class = "Akka.Persistence.Sql.Snapshot.SqlSnapshotStore, Akka.Persistence.Sql"
                  connection-string = "{{cs}}"
                  provider-name = "{{providerName}}"
                  auto-initialize = true
                }
              }
            }
            """;
    }
}
