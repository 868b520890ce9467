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
/// A record made with <see cref="Delete"/> says that the document with its key no longer exists:
/// sinks that keep documents by key (the table sink) remove it.
/// </remarks>
/// <param name="Type">What kind of document this is, for example <c>sale</c> or <c>catalog-entry</c>.</param>
/// <param name="Key">The business key the endpoint uses to identify the document (for example a ticket number).</param>
/// <param name="Payload">The document itself, as JSON.</param>
public sealed record OutputRecord(string Type, string Key, JsonNode Payload)
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// True when the record deletes the document with its <see cref="Key"/> rather than sending a
    /// new version of it (see <see cref="Delete"/>). False for records made any other way.
    /// </summary>
    public bool IsDelete { get; init; }

    /// <summary>
    /// Creates a delete marker: the document of type <paramref name="type"/> with key
    /// <paramref name="key"/> no longer exists. Its payload is an empty JSON object.
    /// </summary>
    /// <remarks>
    /// A table sink deletes the row of that key (keeping a tombstone so that a replayed older
    /// change does not bring it back); a webhook or file sink delivers the marker as a record.
    /// </remarks>
    public static OutputRecord Delete(string type, string key) => new(type, key, new JsonObject()) { IsDelete = true };

    /// <summary>Creates a record whose payload is <paramref name="payload"/> serialized with web (camelCase) JSON conventions.</summary>
    public static OutputRecord Create<T>(string type, string key, T payload) =>
        new(type, key, JsonSerializer.SerializeToNode(payload, Web)
                       ?? throw new ArgumentException("The payload serialized to JSON null.", nameof(payload)));
}
