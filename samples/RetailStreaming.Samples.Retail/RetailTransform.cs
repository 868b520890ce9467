using RetailStreaming.Transforms;

namespace RetailStreaming.Samples.Retail;

/// <summary>
/// The retail demo's transform: a ticket becomes a "sale" document; a product or catalog row
/// becomes a "catalog-entry"; a store becomes a "store" document. Every change gives at least one
/// record (deletes give a tombstone), which the demo relies on to count what arrived.
/// </summary>
public sealed class RetailTransform : ITransform
{
    private string _currency = "EUR";
    private decimal _vatRate = 0.20m;

    /// <inheritdoc />
    public void Initialize(TransformContext context)
    {
        _currency = context.GetSetting("currency", "EUR");
        _vatRate = context.GetDecimalSetting("vatRate", 0.20m);
        context.Logger.Info("Retail transform ready: currency {Currency}, VAT {VatRate}", _currency, _vatRate);
    }

    /// <inheritdoc />
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        var table = change.Table;
        var dot = table.LastIndexOf('.');
        if (dot >= 0) table = table[(dot + 1)..];
        return table switch
        {
            "tickets" => [Sale(change)],
            "products" => [ProductEntry(change)],
            "catalog" => [CatalogEntry(change)],
            "stores" => [Store(change)],
            _ => throw new InvalidOperationException($"The retail transform does not know table '{change.Table}'."),
        };
    }

    private OutputRecord Sale(ChangeEvent change)
    {
        var row = change.Row;
        var ticketId = row.GetString("ticket_id") ?? throw new InvalidOperationException("A ticket has no ticket_id.");
        if (change.Operation == ChangeOperation.Delete)
            return OutputRecord.Create("sale", ticketId, new { ticketId, deleted = true });

        var quantity = row.GetInt64("quantity");
        if (quantity <= 0)
            throw new InvalidOperationException($"Ticket {ticketId} has quantity {quantity}; a sale needs at least one item.");
        var unitPrice = row.GetDecimal("unit_price");
        var net = Math.Round(unitPrice * quantity, 2, MidpointRounding.ToEven);
        return OutputRecord.Create("sale", ticketId, new
        {
            ticketId,
            storeId = row.GetString("store_id"),
            sku = row.GetString("sku"),
            quantity,
            unitPrice,
            net,
            vat = Math.Round(net * _vatRate, 2, MidpointRounding.ToEven),
            currency = _currency,
            soldAt = row.GetString("sold_at"),
            operation = change.Operation.ToString().ToLowerInvariant(),
        });
    }

    private static OutputRecord ProductEntry(ChangeEvent change)
    {
        var row = change.Row;
        var sku = row.GetString("sku") ?? throw new InvalidOperationException("A product has no sku.");
        if (change.Operation == ChangeOperation.Delete)
            return OutputRecord.Create("catalog-entry", sku, new { sku, deleted = true });
        return OutputRecord.Create("catalog-entry", sku, new
        {
            sku,
            name = row.GetString("name"),
            price = row.GetDecimal("price"),
            category = row.HasValue("category") ? row.GetString("category") : null,
            operation = change.Operation.ToString().ToLowerInvariant(),
        });
    }

    private static OutputRecord CatalogEntry(ChangeEvent change)
    {
        var row = change.Row;
        var sku = row.GetString("sku") ?? throw new InvalidOperationException("A catalog row has no sku.");
        var storeId = row.GetString("store_id");
        var key = $"{storeId}/{sku}";
        if (change.Operation == ChangeOperation.Delete)
            return OutputRecord.Create("catalog-entry", key, new { sku, storeId, listed = false });
        return OutputRecord.Create("catalog-entry", key, new
        {
            sku,
            storeId,
            listed = row.GetBoolean("listed"),
            operation = change.Operation.ToString().ToLowerInvariant(),
        });
    }

    private static OutputRecord Store(ChangeEvent change)
    {
        var row = change.Row;
        var storeId = row.GetString("store_id") ?? throw new InvalidOperationException("A store has no store_id.");
        return OutputRecord.Create("store", storeId, new
        {
            storeId,
            name = change.Operation == ChangeOperation.Delete ? null : row.GetString("name"),
            city = change.Operation == ChangeOperation.Delete ? null : row.GetString("city"),
            deleted = change.Operation == ChangeOperation.Delete,
        });
    }
}
