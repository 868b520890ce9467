using System.Globalization;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Postgres;

/// <summary>
/// Positions of PostgreSQL changes: <c>pg:</c>, the LSN of the transaction's commit record as 16
/// upper-case hex digits, <c>:</c>, and the index of the change within its transaction as 8 digits
/// (for example <c>pg:00000000016B3A28:00000002</c>).
/// </summary>
/// <remarks>
/// Commit records are written one after the other, so commit LSNs increase in commit order; with
/// the fixed widths, ordinal string order is (commit, index) order. A change's own WAL record LSN
/// would not do: the records of interleaved transactions are mixed in the WAL, and resuming after
/// one would drop changes of a transaction that committed later. pgoutput announces the commit LSN
/// in the transaction's BEGIN message (with <c>streaming</c> off a transaction is only decoded once
/// committed), so a change gets its position as soon as it arrives and no transaction has to be
/// held in memory until its COMMIT.
/// </remarks>
public static class PostgresPosition
{
    /// <summary>The prefix of every PostgreSQL position.</summary>
    public const string Prefix = "pg:";

    /// <summary>The largest index of a change within one transaction that fits the 8 digits.</summary>
    public const int MaxIndex = 99_999_999;

    private const int Length = 3 + 16 + 1 + 8;

    /// <summary>The position of the change with the given index in the transaction committed at <paramref name="commitLsn"/>.</summary>
    public static SourcePosition Of(ulong commitLsn, int index)
    {
        if (index is < 0 or > MaxIndex)
            throw new ArgumentOutOfRangeException(nameof(index), index,
                $"A transaction with more than {MaxIndex + 1} captured changes does not fit the position format.");
        return new SourcePosition(string.Create(CultureInfo.InvariantCulture, $"{Prefix}{commitLsn:X16}:{index:D8}"));
    }

    /// <summary>
    /// The commit LSN and index a position stands for; null for <see cref="SourcePosition.Start"/>.
    /// Throws <see cref="FormatException"/> for a position this connector did not write.
    /// </summary>
    public static (ulong CommitLsn, int Index)? Parse(SourcePosition position)
    {
        if (position.IsStart) return null;
        var value = position.Value;
        if (value.Length == Length
            && value.StartsWith(Prefix, StringComparison.Ordinal)
            && value[19] == ':'
            && ulong.TryParse(value.AsSpan(3, 16), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var lsn)
            && !value.AsSpan(3, 16).ContainsAnyExcept("0123456789ABCDEF")
            && !value.AsSpan(20).ContainsAnyExceptInRange('0', '9')
            && int.TryParse(value.AsSpan(20), NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            return (lsn, index);
        throw new FormatException(
            $"'{value}' is not a PostgreSQL position (expected '{Prefix}' + 16 hex digits of the commit LSN + ':' + 8 digits of the index in the transaction).");
    }

    /// <summary>An LSN in PostgreSQL's notation (<c>16/B374D848</c>).</summary>
    public static string FormatLsn(ulong lsn) =>
        string.Create(CultureInfo.InvariantCulture, $"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}");
}
