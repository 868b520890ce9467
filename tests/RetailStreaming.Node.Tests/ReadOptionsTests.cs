namespace RetailStreaming.Node.Tests;

/// <summary>
/// <see cref="NodeHost.ReadOptions"/>: cluster-config/&lt;env&gt;.json beside the binaries (copied
/// there by the csproj), then environment variables, then <c>--RetailStreaming:...</c> options.
/// The environment variables it reads are process-wide: every test here restores them.
/// </summary>
public sealed class ReadOptionsTests : IDisposable
{
    private readonly Dictionary<string, string?> _saved = new();

    public ReadOptionsTests()
    {
        Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, "cluster-config", "local.json")),
            "cluster-config/local.json is not in the test output; the csproj copies it.");
        // A developer's shell may name an environment; these tests set what they need.
        Set("RS_ENVIRONMENT", null);
        Set("RS_SEED_NODES", null);
    }

    [Fact]
    public void Without_an_environment_the_local_file_is_read()
    {
        var options = NodeHost.ReadOptions([], out var configuration);

        Assert.Equal("http://127.0.0.1:5170", options.Admin.Url);
        Assert.Equal(4053, options.Node.Port);
        Assert.Equal("127.0.0.1", options.Node.Hostname);
        Assert.Empty(options.Node.SeedNodes);
        Assert.Equal("sqlite", options.Persistence.Provider);
        Assert.Equal(256, options.Workflows.QueueSize);
        Assert.Equal(TimeSpan.FromSeconds(20), options.Workflows.DrainTimeout);
        Assert.False(options.Logging.Json);
        Assert.Equal("local", Path.GetFileNameWithoutExtension(ConfigurationFile(configuration)));
    }

    [Fact]
    public void Environment_variables_override_the_file()
    {
        Set("RetailStreaming__Admin__Url", "http://127.0.0.1:6170");
        Set("RetailStreaming__Node__Port", "4999");
        Set("RetailStreaming__Node__SeedNodes__0", "akka.tcp://retailstreaming@10.0.0.1:4053");
        Set("RetailStreaming__Workflows__CheckpointInterval", "00:00:05");
        Set("RetailStreaming__Logging__Json", "true");

        var options = NodeHost.ReadOptions([], out _);

        Assert.Equal("http://127.0.0.1:6170", options.Admin.Url);
        Assert.Equal(4999, options.Node.Port);
        Assert.Equal(["akka.tcp://retailstreaming@10.0.0.1:4053"], options.Node.SeedNodes);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Workflows.CheckpointInterval);
        Assert.True(options.Logging.Json);
        // What no variable names keeps the file's value.
        Assert.Equal(1000, options.Workflows.CheckpointEveryChanges);
    }

    [Fact]
    public void RS_SEED_NODES_replaces_the_whole_seed_list_of_the_file()
    {
        // staging.json lists three seeds; an indexed variable would only replace the first.
        Set("RS_ENVIRONMENT", "staging");
        Set("RS_SEED_NODES", " akka.tcp://retailstreaming@a:4053, akka.tcp://retailstreaming@b:4053 ,");

        var options = NodeHost.ReadOptions([], out _);

        Assert.Equal(["akka.tcp://retailstreaming@a:4053", "akka.tcp://retailstreaming@b:4053"], options.Node.SeedNodes);
        Assert.Equal("keep-majority", options.Cluster.SplitBrainResolver);
        Assert.Equal(TimeSpan.FromSeconds(7), options.Cluster.StableAfter);
    }

    [Fact]
    public void The_command_line_overrides_environment_variables()
    {
        Set("RetailStreaming__Node__Port", "4999");

        var options = NodeHost.ReadOptions(["run", "--RetailStreaming:Node:Port=5055"], out _);

        Assert.Equal(5055, options.Node.Port);
    }

    [Theory]
    [InlineData("--env", "production")]
    [InlineData("--env=production", null)]
    public void The_env_option_picks_the_environment_file(string first, string? second)
    {
        string[] args = second is null ? ["run", first] : ["run", first, second];

        var options = NodeHost.ReadOptions(args, out _);

        Assert.Equal(2000, options.Workflows.CheckpointEveryChanges);
        Assert.Equal(TimeSpan.FromMinutes(2), options.Workflows.RestartMaxBackoff);
        Assert.True(options.Logging.Json);
        Assert.Equal("0.0.0.0", options.Node.Hostname);
        Assert.Equal("http://0.0.0.0:5170", options.Admin.Url);
        // Not in production.json: the built-in default.
        Assert.Equal(256, options.Workflows.QueueSize);
    }

    [Fact]
    public void RS_ENVIRONMENT_picks_the_environment_and_env_wins_over_it()
    {
        Set("RS_ENVIRONMENT", "production");

        var production = NodeHost.ReadOptions([], out _);
        Assert.Equal("/var/lib/retailstreaming", production.Node.DataDirectory);
        Assert.Equal(2000, production.Workflows.CheckpointEveryChanges);
        // staging.json sets no checkpoint batch: the built-in 1000.
        Assert.Equal(1000, NodeHost.ReadOptions(["--env", "staging"], out _).Workflows.CheckpointEveryChanges);
        Assert.Equal(1000, NodeHost.ReadOptions(["--env", "local"], out _).Workflows.CheckpointEveryChanges);
    }

    [Fact]
    public void An_unknown_environment_is_a_clear_error_naming_the_environments()
    {
        var e = Assert.Throws<FileNotFoundException>(() => NodeHost.ReadOptions(["--env", "qa"], out _));

        Assert.Contains("'qa'", e.Message);
        Assert.Contains(Path.Combine("cluster-config", "qa.json"), e.Message);
        var environments = e.Message[(e.Message.LastIndexOf("Environments:", StringComparison.Ordinal) + "Environments:".Length)..]
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["local", "production", "staging"], environments.Order());
    }

    private static string ConfigurationFile(Microsoft.Extensions.Configuration.IConfiguration configuration) =>
        ((Microsoft.Extensions.Configuration.IConfigurationRoot)configuration).Providers
            .OfType<Microsoft.Extensions.Configuration.Json.JsonConfigurationProvider>()
            .Select(p => p.Source.Path!).Single();

    private void Set(string name, string? value)
    {
        _saved.TryAdd(name, Environment.GetEnvironmentVariable(name));
        Environment.SetEnvironmentVariable(name, value);
    }

    public void Dispose()
    {
        foreach (var (name, value) in _saved)
            Environment.SetEnvironmentVariable(name, value);
    }
}
