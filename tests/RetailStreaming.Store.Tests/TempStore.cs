using RetailStreaming.Store.Sqlite;

namespace RetailStreaming.Store.Tests;

/// <summary>A temporary directory holding the database file of one test, deleted afterwards.</summary>
public sealed class TempStore : IDisposable
{
    private readonly List<SqlitePlatformStore> _opened = [];

    public TempStore()
    {
        Directory = Path.Combine(Path.GetTempPath(), "rs-store-tests-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public string DatabasePath => Path.Combine(Directory, "platform.db");

    /// <summary>A store on this directory's file; disposed with the directory.</summary>
    public SqlitePlatformStore Open(TimeProvider? clock = null)
    {
        var store = new SqlitePlatformStore(DatabasePath, clock);
        _opened.Add(store);
        return store;
    }

    public async Task<SqlitePlatformStore> OpenInitializedAsync(TimeProvider? clock = null)
    {
        var store = Open(clock);
        await store.InitializeAsync();
        return store;
    }

    public void Dispose()
    {
        foreach (var store in _opened)
            store.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}

/// <summary>A clock the test moves.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}
