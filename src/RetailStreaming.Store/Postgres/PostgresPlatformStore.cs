namespace RetailStreaming.Store.Postgres;

/// <summary>
/// The platform store in a PostgreSQL database, for a cluster: every node uses the same
/// tables, in their own schema. Several nodes may initialize it at once (the migrations take
/// turns on an advisory lock).
/// </summary>
public sealed class PostgresPlatformStore : PlatformStore
{
    /// <summary>The schema of the platform's tables unless told otherwise.</summary>
    public const string DefaultSchema = "retailstreaming";

    /// <summary>Opens the store (the schema and tables are created by <see cref="PlatformStore.InitializeAsync"/>).</summary>
    /// <param name="connectionString">An Npgsql connection string; its search path is replaced by <paramref name="schema"/>.</param>
    /// <param name="schema">
    /// The schema holding the platform's tables, created when missing (the user then needs the
    /// CREATE privilege on the database; otherwise create it beforehand, owned by the user).
    /// Lower-case letters, digits and underscores.
    /// </param>
    /// <param name="timeProvider">The clock for stored times; the system clock when null.</param>
    public PostgresPlatformStore(string connectionString, string schema = DefaultSchema, TimeProvider? timeProvider = null)
        : base(new PostgresDatabase(connectionString, schema, timeProvider ?? TimeProvider.System))
    {
        Schema = schema;
    }

    /// <summary>The schema holding the platform's tables.</summary>
    public string Schema { get; }
}
