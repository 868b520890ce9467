using System.Text.Json.Nodes;
using RetailStreaming.Samples.Retail;
using RetailStreaming.Transforms;

namespace RetailStreaming.Cli.Tests.ChangedRetail;

/// <summary>The sample transform, but a sale's <c>unitPrice</c> is a JSON string instead of a number.</summary>
public sealed class ChangedRetailTransform : ITransform
{
    private readonly RetailTransform _inner = new();

    public void Initialize(TransformContext context) => _inner.Initialize(context);

    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        foreach (var record in _inner.Transform(change, context))
        {
            if (record.Type == "sale" && record.Payload is JsonObject payload && payload["unitPrice"] is JsonValue price)
                payload["unitPrice"] = price.ToJsonString();
            yield return record;
        }
    }
}
