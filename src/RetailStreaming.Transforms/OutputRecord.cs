using System.Text.Json;
using System.Text.Json.Nodes;

namespace RetailStreaming.Transforms;

/// <summary>
/// One record a transform produces for delivery to the client's endpoint.
/// </summary>
/// <remarks>
/// The platform adds the idempotency key (derived from the workflow, the source position and the
/// record's index among the outputs of its change), so a transform only says what to send.
/// Records with the same <see cref="Key"/> are delivered in source commit order.
/// </remarks>
/// <param name="Type">What kind of document this is, for example <c>sale</c> or <c>catalog-entry</c>.</param>
/// <param name="Key">The business key the endpoint uses to identify the document (for example a ticket number).</param>
/// <param name="Payload">The document itself, as JSON.</param>
public sealed record OutputRecord(string Type, string Key, JsonNode Payload)
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    /// <summary>Creates a record whose payload is <paramref name="payload"/> serialized with web (camelCase) JSON conventions.</summary>
    public static OutputRecord Create<T>(string type, string key, T payload) =>
        new(type, key, JsonSerializer.SerializeToNode(payload, Web)
                       ?? throw new ArgumentException("The payload serialized to JSON null.", nameof(payload)));
}
