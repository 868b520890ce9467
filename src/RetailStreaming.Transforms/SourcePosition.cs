namespace RetailStreaming.Transforms;

/// <summary>
/// An opaque, totally ordered position in a source's change stream.
/// </summary>
/// <remarks>
/// The capture connector defines the encoding (for SQLite change tables the change sequence,
/// for PostgreSQL the commit end LSN and the index of the change within its transaction).
/// Positions of one workflow compare with ordinal string comparison: connectors encode them
/// with fixed-width fields so that the order of the strings is the order of the changes.
/// A transform must treat the value as opaque; it is useful for logging and as part of an
/// idempotency key.
/// </remarks>
public readonly record struct SourcePosition : IComparable<SourcePosition>
{
    /// <summary>Creates a position from its connector-defined encoding.</summary>
    /// <param name="value">The encoded position; never empty.</param>
    public SourcePosition(string value)
    {
        if (string.IsNullOrEmpty(value))
            throw new ArgumentException("A source position cannot be empty.", nameof(value));
        Value = value;
    }

    /// <summary>The connector-defined encoding of the position.</summary>
    public string Value { get; }

    /// <summary>The position before every change: nothing has been read yet.</summary>
    public static SourcePosition Start { get; } = new("0");

    /// <summary>True for <see cref="Start"/> (or a default value).</summary>
    public bool IsStart => Value is null || Value == "0";

    /// <inheritdoc />
    public int CompareTo(SourcePosition other) =>
        string.CompareOrdinal(Value ?? "0", other.Value ?? "0");

    /// <summary>True when <paramref name="a"/> comes before <paramref name="b"/>.</summary>
    public static bool operator <(SourcePosition a, SourcePosition b) => a.CompareTo(b) < 0;

    /// <summary>True when <paramref name="a"/> comes after <paramref name="b"/>.</summary>
    public static bool operator >(SourcePosition a, SourcePosition b) => a.CompareTo(b) > 0;

    /// <summary>True when <paramref name="a"/> is not after <paramref name="b"/>.</summary>
    public static bool operator <=(SourcePosition a, SourcePosition b) => a.CompareTo(b) <= 0;

    /// <summary>True when <paramref name="a"/> is not before <paramref name="b"/>.</summary>
    public static bool operator >=(SourcePosition a, SourcePosition b) => a.CompareTo(b) >= 0;

    /// <summary>The later of two positions.</summary>
    public static SourcePosition Max(SourcePosition a, SourcePosition b) => a >= b ? a : b;

    /// <inheritdoc />
    public override string ToString() => Value ?? "0";
}
