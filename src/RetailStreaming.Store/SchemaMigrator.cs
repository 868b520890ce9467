using System.Data.Common;

namespace RetailStreaming.Store;

/// <summary>
/// Applies the provider's numbered migrations in order, each in its own transaction with
/// its <c>schema_migrations</c> row, and refuses a database migrated by a newer build.
/// </summary>
internal sealed class SchemaMigrator(PlatformDatabase database)
{
    /// <summary>Brings the schema to the newest version this build knows; returns the versions it applied.</summary>
    public async Task<IReadOnlyList<int>> MigrateAsync(CancellationToken cancellationToken)
    {
        var migrations = database.Migrations;
        CheckOrdered(migrations);

        await database.PrepareAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await database.CreateMigrationTableAsync(connection, cancellationToken).ConfigureAwait(false);

        var applied = new List<int>();
        var seen = await ReadAppliedAsync(connection, null, cancellationToken).ConfigureAwait(false);
        CheckCompatible(seen, migrations);
        foreach (var migration in migrations)
        {
            // An up-to-date database is started without taking the write lock.
            if (seen.ContainsKey(migration.Version))
                continue;

            await using var transaction = await database.BeginMigrationAsync(connection, cancellationToken).ConfigureAwait(false);
            // Read under the write lock: another node may have migrated since the first read.
            var current = await ReadAppliedAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
            CheckCompatible(current, migrations);
            if (current.ContainsKey(migration.Version))
            {
                await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            await using (var apply = connection.Command(migration.Sql, transaction))
                await apply.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await using (var record = connection.Command(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @applied_at)", transaction))
            {
                record.With("@version", migration.Version).With("@name", migration.Name).With("@applied_at", database.NowParameter());
                await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            applied.Add(migration.Version);
        }

        return applied;
    }

    private static async Task<Dictionary<int, string>> ReadAppliedAsync(DbConnection connection, DbTransaction? transaction, CancellationToken cancellationToken)
    {
        var applied = new Dictionary<int, string>();
        await using var command = connection.Command("SELECT version, name FROM schema_migrations", transaction);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            applied[Convert.ToInt32(reader.GetValue(0))] = reader.GetString(1);
        return applied;
    }

    private void CheckCompatible(Dictionary<int, string> applied, IReadOnlyList<StoreMigration> migrations)
    {
        var known = migrations.Count == 0 ? 0 : migrations[^1].Version;
        var newest = applied.Count == 0 ? 0 : applied.Keys.Max();
        if (newest > known)
            throw new IncompatibleStoreSchemaException(
                $"The platform store ({database.Description}) has schema version {newest} ('{applied[newest]}'), " +
                $"newer than the newest this build knows ({known}): it was migrated by a newer release. " +
                "Refusing to start, since a downgrade is not supported: run the newer release, or restore a backup taken before the upgrade.");

        foreach (var migration in migrations)
        {
            if (applied.TryGetValue(migration.Version, out var name) && name != migration.Name)
                throw new IncompatibleStoreSchemaException(
                    $"The platform store ({database.Description}) recorded migration {migration.Version} as '{name}', " +
                    $"but this build's migration {migration.Version} is '{migration.Name}': the database was migrated by a different build.");
        }
    }

    private static void CheckOrdered(IReadOnlyList<StoreMigration> migrations)
    {
        for (var i = 0; i < migrations.Count; i++)
        {
            if (migrations[i].Version <= (i == 0 ? 0 : migrations[i - 1].Version))
                throw new InvalidOperationException($"Store migrations must have positive, strictly ascending versions; found {migrations[i].Version} at position {i}.");
        }
    }
}
