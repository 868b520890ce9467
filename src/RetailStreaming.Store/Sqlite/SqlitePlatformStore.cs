using Microsoft.Data.Sqlite;

namespace RetailStreaming.Store.Sqlite;

/// <summary>
/// The platform store in one SQLite file (WAL mode), the embedded default for a single node.
/// Several connections and processes may use the file at once.
/// </summary>
public sealed class SqlitePlatformStore : PlatformStore
{
    /// <summary>Opens the store (the file and its directory are created by <see cref="PlatformStore.InitializeAsync"/>).</summary>
    /// <param name="pathOrConnectionString">
    /// A file path (<c>data/platform.db</c>), or a Microsoft.Data.Sqlite connection string
    /// (<c>Data Source=data/platform.db</c>): text containing <c>=</c> is read as a connection string.
    /// </param>
    /// <param name="timeProvider">The clock for stored times; the system clock when null.</param>
    public SqlitePlatformStore(string pathOrConnectionString, TimeProvider? timeProvider = null)
        : base(new SqliteDatabase(ToConnectionString(pathOrConnectionString), timeProvider ?? TimeProvider.System))
    {
    }

    private static string ToConnectionString(string pathOrConnectionString)
    {
        if (string.IsNullOrWhiteSpace(pathOrConnectionString))
            throw new ArgumentException("A SQLite file path or connection string is required.", nameof(pathOrConnectionString));
        if (pathOrConnectionString.Contains('='))
            return pathOrConnectionString;
        return new SqliteConnectionStringBuilder
        {
            DataSource = Path.GetFullPath(pathOrConnectionString),
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
        }.ToString();
    }
}
