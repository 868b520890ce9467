namespace RetailStreaming.Definitions;

public sealed partial record DeliveryDefinition
{
    /// <summary>What <c>delivery.onRefused</c> accepts.</summary>
    public static readonly string[] RefusalPolicies = [DeadLetterRefused, ParkRefused];

    /// <summary>A record the endpoint refuses for good goes to the dead-letter store; its key's later records go on (default).</summary>
    public const string DeadLetterRefused = "deadletter";

    /// <summary>
    /// A record the endpoint refuses for good is stored, and so is every later record of its key,
    /// in order, until a redrive delivers them; other keys go on.
    /// </summary>
    public const string ParkRefused = "park";

    /// <summary>
    /// Delivery lanes (1 to 64, default 1). Records are spread over the lanes by record key
    /// (type and key); each lane sends its requests one at a time, in source order, so records
    /// of one key keep their order. 1: the whole workflow in source commit order.
    /// </summary>
    public int Parallelism { get; init; } = 1;

    /// <summary>What happens to a record the endpoint refuses for good: <see cref="DeadLetterRefused"/> or <see cref="ParkRefused"/>.</summary>
    public string OnRefused { get; init; } = DeadLetterRefused;
}
