namespace RetailStreaming.Node.Tests.Signals;

/// <summary><c>RetailStreaming:Observability:*</c>: binding, defaults, and bad values refused with their key.</summary>
public sealed class ObservabilityOptionsTests
{
    [Fact]
    public void The_defaults_are_text_logs_a_protected_scrape_and_no_traces()
    {
        var options = NodeHost.ReadOptions(["--env", "local"], out _);

        Assert.Equal("text", options.Observability.LogFormat);
        Assert.True(options.Observability.MetricsRequireToken);
        Assert.Null(options.Observability.OtlpUri());
        Assert.Equal(TimeSpan.FromSeconds(10), options.Observability.ClusterSampleInterval);
        Assert.False(options.Observability.JsonLogs(loggingJson: false));
        // The older switch still works.
        Assert.True(options.Observability.JsonLogs(loggingJson: true));
    }

    [Fact]
    public void The_command_line_sets_every_key()
    {
        var options = NodeHost.ReadOptions([
            "--env", "local",
            "--RetailStreaming:Observability:LogFormat=JSON",
            "--RetailStreaming:Observability:MetricsRequireToken=false",
            "--RetailStreaming:Observability:OtlpEndpoint=http://collector:4318/v1/traces",
            "--RetailStreaming:Observability:OtlpProtocol=http/protobuf",
            "--RetailStreaming:Observability:ClusterSampleInterval=00:00:02",
        ], out _);

        options.Observability.Validate();
        Assert.True(options.Observability.JsonLogs(loggingJson: false));
        Assert.False(options.Observability.MetricsRequireToken);
        Assert.Equal(new Uri("http://collector:4318/v1/traces"), options.Observability.OtlpUri());
        Assert.Equal(TimeSpan.FromSeconds(2), options.Observability.ClusterSampleInterval);
    }

    [Theory]
    [InlineData("LogFormat", "xml", "RetailStreaming:Observability:LogFormat: 'xml' is not a log format; use text or json.")]
    [InlineData("OtlpEndpoint", "collector:4317", "RetailStreaming:Observability:OtlpEndpoint: 'collector:4317' is not an http(s) URL")]
    [InlineData("OtlpProtocol", "udp", "RetailStreaming:Observability:OtlpProtocol: 'udp' is not grpc or http/protobuf.")]
    [InlineData("ClusterSampleInterval", "00:00:00", "RetailStreaming:Observability:ClusterSampleInterval must be positive")]
    public async Task A_bad_value_stops_the_node_before_it_starts_naming_its_key(string key, string value, string expected)
    {
        var args = new List<string> { "--env", "local", $"--RetailStreaming:Observability:{key}={value}" };
        if (key == "OtlpProtocol") args.Add("--RetailStreaming:Observability:OtlpEndpoint=http://collector:4317");
        var options = NodeHost.ReadOptions([.. args], out _);
        options.Node.DataDirectory = Path.Combine(Path.GetTempPath(), $"rs-node-tests-observability-{Guid.NewGuid():N}");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => NodeHost.BuildAsync(options));

        Assert.StartsWith(expected, error.Message);
        // Refused before anything was created.
        Assert.False(Directory.Exists(options.Node.DataDirectory));
    }
}
