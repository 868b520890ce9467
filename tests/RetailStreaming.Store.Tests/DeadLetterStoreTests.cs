namespace RetailStreaming.Store.Tests;

public abstract class DeadLetterStoreTests : StoreTestBase
{
    internal static DeadLetter Letter(string workflowId, string stage = "transform", string position = "0/16B3748:0") => new(
        Id: 0,
        WorkflowId: workflowId,
        ClientId: "client-1",
        Stage: stage,
        Position: position,
        OutputIndex: stage == "delivery" ? 2 : null,
        TransformVersion: "1.4.0",
        Reason: "System.FormatException: price is not a number",
        InputJson: """{"op":"u","table":"products","after":{"id":7}}""",
        OutputJson: stage == "delivery" ? """{"sku":"A-7"}""" : null,
        CreatedAt: default);

    [Fact]
    public async Task Add_then_get_returns_every_field()
    {
        var clock = new ManualClock(new DateTimeOffset(2025, 3, 4, 10, 11, 12, 345, TimeSpan.FromHours(2)));
        var store = await Database.OpenInitializedAsync(clock);
        var letter = Letter("wf-a", stage: "delivery");

        var id = await store.DeadLetters.AddAsync(letter);
        var stored = await store.DeadLetters.GetAsync(id);

        Assert.NotNull(stored);
        Assert.Equal(letter with { Id = id, CreatedAt = clock.Now }, stored);
        Assert.Equal(TimeSpan.Zero, stored.CreatedAt.Offset);
        Assert.Null(await store.DeadLetters.GetAsync(id + 1));
    }

    [Fact]
    public async Task List_and_count_are_per_workflow_oldest_first()
    {
        var store = await Database.OpenInitializedAsync();
        var ids = new List<long>();
        for (var i = 0; i < 3; i++)
            ids.Add(await store.DeadLetters.AddAsync(Letter("wf-a", position: $"p{i}")));
        await store.DeadLetters.AddAsync(Letter("wf-b"));

        var listed = await store.DeadLetters.ListAsync("wf-a");

        Assert.Equal(ids, listed.Select(l => l.Id));
        Assert.Equal(["p0", "p1", "p2"], listed.Select(l => l.Position));
        Assert.Equal(3, await store.DeadLetters.CountAsync("wf-a"));
        Assert.Equal(1, await store.DeadLetters.CountAsync("wf-b"));
        Assert.Equal(0, await store.DeadLetters.CountAsync("wf-unknown"));
        Assert.Equal(4, (await store.DeadLetters.ListAsync(null)).Count);
    }

    [Fact]
    public async Task Paging_by_after_id_visits_each_letter_once()
    {
        var store = await Database.OpenInitializedAsync();
        for (var i = 0; i < 7; i++)
        {
            await store.DeadLetters.AddAsync(Letter("wf-a", position: $"p{i}"));
            await store.DeadLetters.AddAsync(Letter("wf-b", position: $"p{i}"));
        }

        var seen = new List<DeadLetter>();
        long after = 0;
        while (true)
        {
            var page = await store.DeadLetters.ListAsync("wf-a", afterId: after, limit: 3);
            if (page.Count == 0)
                break;
            Assert.True(page.Count <= 3);
            seen.AddRange(page);
            after = page[^1].Id;
        }

        Assert.Equal(Enumerable.Range(0, 7).Select(i => $"p{i}"), seen.Select(l => l.Position));
        Assert.All(seen, l => Assert.Equal("wf-a", l.WorkflowId));
    }

    [Fact]
    public async Task One_workflows_letters_are_never_listed_for_another()
    {
        var store = await Database.OpenInitializedAsync();
        await store.DeadLetters.AddAsync(Letter("wf-a"));
        await store.DeadLetters.AddAsync(Letter("wf-a"));

        Assert.Empty(await store.DeadLetters.ListAsync("wf-b"));
        Assert.Empty(await store.DeadLetters.ListAsync("wf-a%"));
        Assert.Equal(0, await store.DeadLetters.CountAsync("wf-b"));
    }

    [Theory]
    [InlineData("WorkflowId")]
    [InlineData("ClientId")]
    [InlineData("Stage")]
    [InlineData("Position")]
    [InlineData("Reason")]
    [InlineData("InputJson")]
    [InlineData("OutputIndex")]
    public async Task Invalid_letters_are_rejected_naming_the_field(string field)
    {
        var store = await Database.OpenInitializedAsync();
        var valid = Letter("wf-a");
        var invalid = field switch
        {
            "WorkflowId" => valid with { WorkflowId = " " },
            "ClientId" => valid with { ClientId = "" },
            "Stage" => valid with { Stage = "capture" },
            "Position" => valid with { Position = "" },
            "Reason" => valid with { Reason = "" },
            "InputJson" => valid with { InputJson = "" },
            "OutputIndex" => valid with { OutputIndex = -1 },
            _ => throw new ArgumentOutOfRangeException(nameof(field)),
        };

        var error = await Assert.ThrowsAsync<ArgumentException>(() => store.DeadLetters.AddAsync(invalid));

        Assert.Equal($"letter.{field}", error.ParamName);
        Assert.Empty(await store.DeadLetters.ListAsync(null));
    }

    [Fact]
    public async Task Invalid_queries_are_rejected()
    {
        var store = await Database.OpenInitializedAsync();

        await Assert.ThrowsAsync<ArgumentException>(() => store.DeadLetters.ListAsync(""));
        await Assert.ThrowsAsync<ArgumentException>(() => store.DeadLetters.CountAsync(""));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.DeadLetters.ListAsync("wf-a", limit: 0));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => store.DeadLetters.ListAsync("wf-a", afterId: -1));
    }

    [Fact]
    public async Task Text_comes_back_exactly_as_it_was_stored()
    {
        var store = await Database.OpenInitializedAsync();
        // Key order, duplicate keys, spacing and escapes are the input's own: nothing normalises them.
        var input = """{ "b":1, "a":[1.50, 1e3], "a":"dup", "text":"\u00e9 ü 中文 🛒 \"q\"\t" }""";
        var letter = Letter("wf-ü-🛒") with
        {
            InputJson = input + new string(' ', 3) + new string('x', 1_000_000),
            Reason = "line 1\nline 2 'quoted' \"double\" -- not a comment; DROP TABLE dead_letters;",
            TransformVersion = "2.0.0-beta.1+build.7",
            Position = "0000000016B3748:000042",
        };

        var stored = await store.DeadLetters.GetAsync(await store.DeadLetters.AddAsync(letter));

        Assert.NotNull(stored);
        Assert.Equal(letter.InputJson, stored.InputJson);
        Assert.Equal(letter.Reason, stored.Reason);
        Assert.Equal(letter.WorkflowId, stored.WorkflowId);
        Assert.Equal(letter.Position, stored.Position);
        Assert.Equal(letter.TransformVersion, stored.TransformVersion);
        Assert.Equal(1, await store.DeadLetters.CountAsync("wf-ü-🛒"));
    }

    [Fact]
    public async Task Concurrent_adds_are_all_stored()
    {
        var store = await Database.OpenInitializedAsync();

        var ids = await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            var mine = new List<long>();
            for (var i = 0; i < 50; i++)
                mine.Add(await store.DeadLetters.AddAsync(Letter($"wf-{worker}", position: $"p{i}")));
            return mine;
        })));

        Assert.Equal(400, ids.SelectMany(x => x).Distinct().Count());
        for (var worker = 0; worker < 8; worker++)
        {
            Assert.Equal(50, await store.DeadLetters.CountAsync($"wf-{worker}"));
            var listed = await store.DeadLetters.ListAsync($"wf-{worker}", limit: 1000);
            Assert.Equal(Enumerable.Range(0, 50).Select(i => $"p{i}"), listed.Select(l => l.Position));
        }
    }

    [Fact]
    public async Task Concurrent_adds_from_two_store_instances_on_one_database_are_all_stored()
    {
        var first = await Database.OpenInitializedAsync();
        var second = await Database.OpenInitializedAsync();

        await Task.WhenAll(new[] { first, second }.SelectMany(store => Enumerable.Range(0, 4).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; i < 25; i++)
                await store.DeadLetters.AddAsync(Letter("wf-shared"));
        }))));

        Assert.Equal(200, await first.DeadLetters.CountAsync("wf-shared"));
    }
}

public sealed class SqliteDeadLetterStoreTests : DeadLetterStoreTests
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult<TestDatabase>(new SqliteTestDatabase());
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresDeadLetterStoreTests(PostgresFixture postgres) : DeadLetterStoreTests
{
    protected override async Task<TestDatabase> CreateDatabaseAsync() => await postgres.CreateDatabaseAsync();
}
