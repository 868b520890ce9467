using System.Security.Cryptography;

namespace RetailStreaming.Store.Tests;

public abstract class TransformPackageRegistryTests : StoreTestBase
{
    private static (PublishedTransform Info, byte[] Content) Package(string id, string version, params byte[] content) =>
        (new PublishedTransform(id, version, Convert.ToHexStringLower(SHA256.HashData(content)), 0, ["Acme.Sales.SaleTransform"], default, "tok12345"), content);

    // Types is a list: compare what it holds.
    private static object Fields(PublishedTransform p) => (p.PackageId, p.Version, p.Sha256, p.Size, string.Join(",", p.Types), p.PublishedAt, p.PublishedBy);

    [Fact]
    public async Task A_version_is_published_once_the_same_bytes_again_are_a_no_op_and_other_bytes_a_conflict()
    {
        var store = await Database.OpenInitializedAsync();
        var (info, content) = Package("Acme.Sales", "1.0.0", 1, 2, 3);

        var (created, stored) = await store.TransformPackages.PublishAsync(info, content);
        Assert.Equal(PublishOutcome.Created, created);
        Assert.Equal(3, stored.Size);

        var (again, existing) = await store.TransformPackages.PublishAsync(info with { PublishedBy = "other" }, content);
        Assert.Equal(PublishOutcome.AlreadyPublished, again);
        Assert.Equal(Fields(stored), Fields(existing));

        // Another case of the id is the same package; other bytes under a published version are refused.
        var (other, otherContent) = Package("acme.sales", "1.0.0", 9, 9);
        var (conflict, kept) = await store.TransformPackages.PublishAsync(other, otherContent);
        Assert.Equal(PublishOutcome.Conflict, conflict);
        Assert.Equal(Fields(stored), Fields(kept));
        Assert.Equal(content, await store.TransformPackages.ReadContentAsync("ACME.SALES", "1.0.0"));
    }

    [Fact]
    public async Task List_find_and_read_answer_for_every_node_of_the_store()
    {
        var store = await Database.OpenInitializedAsync();
        var (v1, c1) = Package("Acme.Sales", "1.0.0", 1);
        var (v2, c2) = Package("Acme.Sales", "1.1.0", 2);
        var (b1, cb) = Package("Beta.Stock", "0.1.0", 3);
        foreach (var (info, content) in new[] { (v1, c1), (b1, cb), (v2, c2) })
            await store.TransformPackages.PublishAsync(info, content);

        // Another store on the same database: what another node sees.
        var other = await Database.OpenInitializedAsync();
        Assert.Equal(["Acme.Sales 1.0.0", "Acme.Sales 1.1.0", "Beta.Stock 0.1.0"],
            (await other.TransformPackages.ListAsync()).Select(p => $"{p.PackageId} {p.Version}"));
        Assert.Equal(["1.0.0", "1.1.0"], (await other.TransformPackages.ListAsync("acme.sales")).Select(p => p.Version));
        var found = await other.TransformPackages.FindAsync("acme.sales", "1.1.0");
        Assert.Equal((v2.Sha256, 1L, "tok12345"), (found!.Sha256, found.Size, found.PublishedBy));
        Assert.Equal(["Acme.Sales.SaleTransform"], found.Types);
        Assert.Equal(c2, await other.TransformPackages.ReadContentAsync("Acme.Sales", "1.1.0"));
        Assert.Null(await other.TransformPackages.FindAsync("Acme.Sales", "2.0.0"));
        Assert.Null(await other.TransformPackages.ReadContentAsync("Acme.Sales", "2.0.0"));
    }
}

public sealed class SqliteTransformPackageRegistryTests : TransformPackageRegistryTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult<TestDatabase>(new SqliteTestDatabase());
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresTransformPackageRegistryTests(PostgresFixture postgres) : TransformPackageRegistryTests
{
    protected override async Task<TestDatabase> CreateDatabaseAsync() => await postgres.CreateDatabaseAsync();
}
