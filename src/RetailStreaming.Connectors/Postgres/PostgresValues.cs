using System.Globalization;
using System.Text;

namespace RetailStreaming.Connectors.Postgres;

/// <summary>
/// Turns PostgreSQL's text form of a value (what pgoutput sends with <c>binary</c> off, and what
/// <c>value::text</c> gives) into the value a <see cref="RetailStreaming.Transforms.RowData"/> holds.
/// The sessions that produce the text run with <see cref="SessionOptions"/> and time zone UTC, so
/// that the text does not depend on the server's or the role's settings.
/// </summary>
/// <remarks>See the connector README for the table of representations.</remarks>
internal static class PostgresValues
{
    /// <summary>
    /// Session settings of every connection the connector opens: the text forms below assume them.
    /// <c>extra_float_digits=3</c> gives the shortest text that reads back to the same float
    /// (PostgreSQL 12 and later); <c>bytea_output=hex</c> the <c>\x</c> form.
    /// </summary>
    public const string SessionOptions = "-c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex";

    /// <summary>Built-in type OIDs (pg_type.dat) whose text is mapped to a .NET type.</summary>
    public static class Oids
    {
        public const uint Bool = 16;
        public const uint Bytea = 17;
        public const uint Int8 = 20;
        public const uint Int2 = 21;
        public const uint Int4 = 23;
        public const uint Oid = 26;
        public const uint Float4 = 700;
        public const uint Float8 = 701;
        public const uint TimestampTz = 1184;
        public const uint Numeric = 1700;

        /// <summary>Types created by users (and extensions) have OIDs from here on (FirstNormalObjectId).</summary>
        public const uint FirstUserOid = 16384;
    }

    /// <summary>The value of a column of the given (base) type from its text.</summary>
    public static object? FromText(uint typeOid, string text) => typeOid switch
    {
        Oids.Bool => text switch
        {
            "t" => true,
            "f" => false,
            _ => throw new FormatException($"'{text}' is not a boolean"),
        },
        Oids.Int2 or Oids.Int4 or Oids.Int8 or Oids.Oid => long.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture),
        Oids.Float4 or Oids.Float8 => Float(text),
        Oids.Numeric => Numeric(text),
        Oids.Bytea => Bytea(text),
        Oids.TimestampTz => TimestampTz(text),
        _ => text,
    };

    /// <summary>
    /// float4 and float8 as <see cref="double"/>, parsed from the shortest text that identifies the
    /// stored value; NaN and the infinities, which JSON cannot carry as numbers, as the strings
    /// <c>NaN</c>, <c>Infinity</c> and <c>-Infinity</c>.
    /// </summary>
    private static object Float(string text) => text switch
    {
        "NaN" or "Infinity" or "-Infinity" => text,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// numeric as <see cref="decimal"/> when the decimal prints back exactly as PostgreSQL printed
    /// it (same digits, same scale); otherwise (more than 28-29 significant digits, a scale above
    /// 28, NaN, ±Infinity) the canonical text itself.
    /// </summary>
    private static object Numeric(string text) =>
        decimal.TryParse(text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var d)
        && d.ToString(CultureInfo.InvariantCulture) == text
            ? d
            : text;

    private static byte[] Bytea(string text)
    {
        if (!text.StartsWith("\\x", StringComparison.Ordinal))
            throw new FormatException("bytea is not in hex output format (bytea_output must be hex)");
        return Convert.FromHexString(text.AsSpan(2));
    }

    /// <summary>
    /// timestamptz as ISO 8601 in UTC with 6 fraction digits: <c>2024-05-01T10:34:56.789000Z</c>.
    /// Years before 1 AD use astronomical numbering with a sign (1 BC is <c>0000</c>, 44 BC
    /// <c>-0043</c>), years after 9999 a leading <c>+</c>; <c>infinity</c> and <c>-infinity</c> stay.
    /// </summary>
    public static string TimestampTz(string text)
    {
        if (text is "infinity" or "-infinity") return text;
        // ISO DateStyle with TimeZone UTC: "YYYY-MM-DD HH:MM:SS[.ffffff]+00[ BC]", the year 4 digits or more.
        var bc = text.EndsWith(" BC", StringComparison.Ordinal);
        var body = bc ? text[..^3] : text;
        if (!body.EndsWith("+00", StringComparison.Ordinal))
            throw new FormatException($"timestamptz '{text}' is not in UTC (the session time zone must be UTC)");
        body = body[..^3];
        var space = body.IndexOf(' ', StringComparison.Ordinal);
        var firstDash = body.IndexOf('-', StringComparison.Ordinal);
        if (space < 0 || firstDash <= 0 || firstDash > space)
            throw new FormatException($"timestamptz '{text}' is not in ISO format");
        var year = long.Parse(body.AsSpan(0, firstDash), NumberStyles.None, CultureInfo.InvariantCulture);
        var monthDay = body[firstDash..space];
        var time = body[(space + 1)..];
        var dot = time.IndexOf('.', StringComparison.Ordinal);
        var fraction = dot < 0 ? "000000" : time[(dot + 1)..].PadRight(6, '0');
        var clock = dot < 0 ? time : time[..dot];

        var astronomical = bc ? 1 - year : year;
        var sb = new StringBuilder(32);
        if (astronomical < 0) sb.Append('-').Append((-astronomical).ToString("D4", CultureInfo.InvariantCulture));
        else if (astronomical > 9999) sb.Append('+').Append(astronomical.ToString(CultureInfo.InvariantCulture));
        else sb.Append(astronomical.ToString("D4", CultureInfo.InvariantCulture));
        return sb.Append(monthDay).Append('T').Append(clock).Append('.').Append(fraction).Append('Z').ToString();
    }
}
