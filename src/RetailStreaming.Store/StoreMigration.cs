namespace RetailStreaming.Store;

/// <summary>One numbered, forward-only change to the platform store's schema.</summary>
/// <param name="Version">Its number: migrations run in ascending order, each exactly once.</param>
/// <param name="Name">A short name, recorded with the version so that a mismatch is visible.</param>
/// <param name="Sql">The statements, run in one transaction with the row recording them.</param>
public sealed record StoreMigration(int Version, string Name, string Sql);

/// <summary>
/// The store's schema does not match this build: it was migrated by a newer build (a
/// downgrade), or its recorded migrations differ from the ones this build knows.
/// </summary>
public sealed class IncompatibleStoreSchemaException(string message) : InvalidOperationException(message);
