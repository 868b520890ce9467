namespace RetailStreaming.Definitions;

/// <summary><c>transform.isolation</c> and <c>transform.limits</c>.</summary>
internal sealed partial class DefinitionValidator
{
    private static readonly string[] LimitsKeys = ["memoryMb", "cpuSeconds"];

    private (string Isolation, TransformLimitsDefinition Limits) Isolation(Fields transform)
    {
        var given = String(transform, "isolation", required: false,
            v => Accepted("transform isolation", v, TransformDefinition.Isolations));
        var isolation = given ?? TransformDefinition.InProcess;
        if (Section(transform, "limits", required: false, LimitsKeys, NoneForbidden) is not { } f)
            return (isolation, TransformLimitsDefinition.Default);
        // The limits are the worker process's: in process they could not be enforced, so they are
        // refused rather than silently ignored.
        // (An isolation that is itself wrong has its own error already.)
        if (isolation != TransformDefinition.Process && (given is not null || transform.Value("isolation") is null))
            Error(transform.Value("limits")!, transform.PathOf("limits"),
                "applies only with 'isolation: process' (a transform in the node's process cannot be limited)");
        var memory = Int(f, "memoryMb", min: 64, max: 65_536) ?? TransformLimitsDefinition.Default.MemoryMb;
        var cpu = Int(f, "cpuSeconds", min: 1, max: 86_400);
        return (isolation, new TransformLimitsDefinition(memory, cpu));
    }
}
