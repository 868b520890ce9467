namespace RetailStreaming.Store.Tests;

public abstract class TokenStoreTests : StoreTestBase
{
    [Fact]
    public async Task Issue_then_authenticate_returns_the_tokens_info()
    {
        var store = await Database.OpenInitializedAsync();

        var (secret, info) = await store.Tokens.IssueAsync("client", "client-1", "status page of client-1");

        Assert.Matches("^rst_[A-Za-z0-9_-]{43}$", secret);
        Assert.Equal(secret.Substring(4, 8), info.Id);
        Assert.Equal(info, await store.Tokens.AuthenticateAsync(secret));
        Assert.Equal("client-1", info.ClientId);
        Assert.Null(info.RevokedAt);
    }

    [Fact]
    public async Task Wrong_or_malformed_secrets_do_not_authenticate()
    {
        var store = await Database.OpenInitializedAsync();
        var (secret, _) = await store.Tokens.IssueAsync("operator", null, "ops");
        var tampered = secret[..^1] + (secret[^1] == 'A' ? 'B' : 'A');

        Assert.Null(await store.Tokens.AuthenticateAsync(tampered));
        Assert.Null(await store.Tokens.AuthenticateAsync(secret[..^1]));
        Assert.Null(await store.Tokens.AuthenticateAsync(""));
        Assert.Null(await store.Tokens.AuthenticateAsync("xyz_" + secret[4..]));
        Assert.Null(await store.Tokens.AuthenticateAsync(null!));
    }

    [Fact]
    public async Task List_shows_every_token_and_no_secret_is_stored()
    {
        var store = await Database.OpenInitializedAsync();
        var (operatorSecret, operatorInfo) = await store.Tokens.IssueAsync("operator", null, "ops");
        var (clientSecret, clientInfo) = await store.Tokens.IssueAsync("client", "client-1", "client-1");

        var listed = await store.Tokens.ListAsync();

        Assert.Equal(new[] { operatorInfo, clientInfo }.OrderBy(t => t.CreatedAt).ThenBy(t => t.Id, StringComparer.Ordinal), listed);
        var fileText = await Database.DumpAsync("tokens");
        Assert.DoesNotContain(operatorSecret, fileText);
        Assert.DoesNotContain(clientSecret, fileText);
        Assert.DoesNotContain(operatorSecret[12..], fileText);
    }

    [Fact]
    public async Task Revoked_tokens_no_longer_authenticate()
    {
        var store = await Database.OpenInitializedAsync();
        var (secret, info) = await store.Tokens.IssueAsync("operator", null, "ops");
        var (otherSecret, _) = await store.Tokens.IssueAsync("operator", null, "other");

        Assert.True(await store.Tokens.RevokeAsync(info.Id));
        Assert.True(await store.Tokens.RevokeAsync(info.Id));
        Assert.False(await store.Tokens.RevokeAsync("nosuchid"));

        Assert.Null(await store.Tokens.AuthenticateAsync(secret));
        Assert.NotNull(await store.Tokens.AuthenticateAsync(otherSecret));
        Assert.NotNull((await store.Tokens.ListAsync()).Single(t => t.Id == info.Id).RevokedAt);
    }

    [Theory]
    [InlineData("admin", null, "role")]
    [InlineData("Operator", null, "role")]
    [InlineData("client", null, "clientId")]
    [InlineData("client", "", "clientId")]
    [InlineData("operator", "client-1", "clientId")]
    public async Task Invalid_roles_are_rejected_naming_the_field(string role, string? clientId, string field)
    {
        var store = await Database.OpenInitializedAsync();

        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.Tokens.IssueAsync(role, clientId, "x"));

        Assert.Equal(field, error.ParamName);
        Assert.Empty(await store.Tokens.ListAsync());
    }
}

public sealed class SqliteTokenStoreTests : TokenStoreTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult<TestDatabase>(new SqliteTestDatabase());
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresTokenStoreTests(PostgresFixture postgres) : TokenStoreTests
{
    protected override async Task<TestDatabase> CreateDatabaseAsync() => await postgres.CreateDatabaseAsync();
}
