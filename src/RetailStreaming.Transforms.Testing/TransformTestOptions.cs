namespace RetailStreaming.Transforms.Testing;

/// <summary>How <see cref="TransformFixtures"/> runs a transform over its fixtures.</summary>
public sealed record TransformTestOptions
{
    /// <summary>The environment variable that turns on <see cref="UpdateExpected"/> (<c>RS_UPDATE_GOLDEN=1</c>).</summary>
    public const string UpdateVariable = "RS_UPDATE_GOLDEN";

    /// <summary>
    /// Write each fixture's expected file from what the transform produced, instead of comparing
    /// (then review the change in version control). Defaults to true when the environment variable
    /// <c>RS_UPDATE_GOLDEN</c> is <c>1</c>.
    /// </summary>
    public bool UpdateExpected { get; init; } = Environment.GetEnvironmentVariable(UpdateVariable) == "1";

    /// <summary>
    /// The transform settings (the workflow definition's <c>transform.settings</c>) for fixtures
    /// without a settings file of their own (<c>&lt;name&gt;.settings.json</c> or <c>settings.json</c>
    /// beside the input).
    /// </summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>The workflow id the transform is told it runs in.</summary>
    public string WorkflowId { get; init; } = "fixture-test";

    /// <summary>The client id the transform is told it runs for.</summary>
    public string ClientId { get; init; } = "fixture-client";

    /// <summary>The transform version the transform is told it is.</summary>
    public string TransformVersion { get; init; } = "0.0.0-test";

    /// <summary>Where the transform's log lines go (dropped by default).</summary>
    public ITransformLogger Logger { get; init; } = NullTransformLogger.Instance;

    /// <summary>The most differences listed per fixture in the report (all are counted).</summary>
    public int MaxReportedDifferencesPerFixture { get; init; } = 50;
}
