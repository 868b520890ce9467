using RetailStreaming.Transforms;

namespace Company.Transform;

/// <summary>
/// Tickets become "sale" documents; other tables are dropped. Replace with your client's rules:
/// one change in, zero or more records out, deterministic (a replayed change must give the same records).
/// </summary>
public sealed class SalesTransform : ITransform
{
    private string _currency = "EUR";

    /// <summary>Reads the workflow's <c>transform.settings</c> once.</summary>
    public void Initialize(TransformContext context) => _currency = context.GetSetting("currency", "EUR");

    /// <summary>One change in, the records to deliver out (none: dropped; an exception: dead-lettered).</summary>
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        if (change.Table != "tickets") yield break;
        var row = change.Row; // After, or Before for a delete
        var ticketId = row.GetString("ticket_id") ?? throw new InvalidOperationException("A ticket has no ticket_id.");
        if (change.Operation == ChangeOperation.Delete)
        {
            yield return OutputRecord.Create("sale", ticketId, new { ticketId, deleted = true });
            yield break;
        }
        var quantity = row.GetInt64("quantity");
        if (quantity <= 0)
            throw new InvalidOperationException($"Ticket {ticketId} has quantity {quantity}; a sale needs at least one item.");
        yield return OutputRecord.Create("sale", ticketId, new
        {
            ticketId,
            sku = row.GetString("sku"),
            quantity,
            total = Math.Round(row.GetDecimal("unit_price") * quantity, 2, MidpointRounding.ToEven),
            currency = _currency,
        });
    }
}
