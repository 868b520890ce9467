using System.Globalization;
using System.Text.RegularExpressions;

namespace RetailStreaming.Definitions;

/// <summary>The syntax rules of single field values. Each check returns null when the value is fine, else the message.</summary>
internal static partial class DefinitionRules
{
    public const string SecretReferenceForm = "env:NAME, file:/absolute/path or file:NAME (an entry of the node's secrets file)";

    /// <summary>Workflow ids and client ids become shard entity ids, metric labels and URL segments.</summary>
    public static string? CheckName(string value) =>
        NameRegex().IsMatch(value)
            ? null
            : $"must be 3 to 63 characters of lowercase letters, digits and '-', starting with a letter; found {Quote(value)}";

    /// <summary>The NuGet package id rule (letters, digits, '_', separated by '.' or '-'; at most 100 characters).</summary>
    public static string? CheckPackageId(string value) =>
        value.Length <= 100 && PackageIdRegex().IsMatch(value)
            ? null
            : $"must be a NuGet package id (letters, digits and '_', separated by '.' or '-', at most 100 characters); found {Quote(value)}";

    /// <summary>A SemVer 2.0 version without build metadata: NuGet ignores metadata, so two such versions would be one package.</summary>
    public static string? CheckVersion(string value) =>
        SemVerRegex().IsMatch(value)
            ? null
            : $"must be a semantic version MAJOR.MINOR.PATCH with an optional -prerelease, e.g. 1.2.3 or 1.2.3-beta.1; found {Quote(value)}";

    public static string? CheckTypeName(string value) =>
        TypeNameRegex().IsMatch(value)
            ? null
            : $"must be the full name of a class, e.g. Acme.Transforms.TicketTransform; found {Quote(value)}";

    /// <summary>
    /// Checks <c>env:NAME</c> or <c>file:/path</c>. The value is never echoed: a malformed reference is often
    /// the secret itself pasted in its place.
    /// </summary>
    public static string? CheckSecretReference(string value)
    {
        if (value.StartsWith("env:", StringComparison.Ordinal))
            return EnvNameRegex().IsMatch(value[4..])
                ? null
                : "malformed secret reference: after env: comes an environment variable name (letters, digits and '_', not starting with a digit)";
        if (value.StartsWith("file:", StringComparison.Ordinal))
            return Path.IsPathFullyQualified(value[5..]) || value[5..].StartsWith('/') || SecretNameRegex().IsMatch(value[5..])
                ? null
                : "malformed secret reference: after file: comes an absolute path, e.g. file:/run/secrets/webhook, "
                  + "or the name of an entry of the node's secrets file (letters, digits, '_', '-' and '.'), e.g. file:acme_webhook";
        var hint = value.StartsWith("whsec_", StringComparison.Ordinal) ? " (this looks like the secret itself; secrets are never inline)" : "";
        return $"malformed secret reference: expected {SecretReferenceForm}{hint}";
    }

    public static string? CheckHttpUrl(string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host))
            return $"malformed URL: expected an absolute http or https URL, e.g. https://example.com/hooks; found {Quote(value)}";
        // Credentials in the URL would be a secret stored in the journal; the URL is therefore not echoed.
        if (!string.IsNullOrEmpty(uri.UserInfo))
            return "the URL holds credentials (user:password@); secrets are never inline: sign with secretRef instead";
        return null;
    }

    /// <summary>A PostgreSQL table the platform writes to: <c>table</c> or <c>schema.table</c>, lower-case identifiers that need no quoting.</summary>
    public static string? CheckTableName(string value) =>
        TableNameRegex().IsMatch(value)
            ? null
            : $"must be table or schema.table of lower-case letters, digits and '_', each starting with a letter or '_' and at most 63 characters; found {Quote(value)}";

    public static string? CheckAbsolutePath(string value) =>
        value.StartsWith('/') || Path.IsPathFullyQualified(value)
            ? null
            : $"must be an absolute path, e.g. /var/lib/retailstreaming/out; found {Quote(value)}";

    /// <summary>Parses <c>&lt;integer&gt;&lt;unit&gt;</c> with unit B, KB, MB or GB (powers of 1024), from 1 KB to 1 TB.</summary>
    public static string? TryParseSize(string value, out long bytes)
    {
        bytes = 0;
        var match = SizeRegex().Match(value);
        if (!match.Success)
            return $"malformed size {Quote(value)}: expected an integer and a unit (B, KB, MB or GB; powers of 1024), e.g. 512KB, 64MB";
        var unit = match.Groups["unit"].Value switch
        {
            "B" => 1L,
            "KB" => 1L << 10,
            "MB" => 1L << 20,
            _ => 1L << 30,
        };
        if (!long.TryParse(match.Groups["number"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            || number > (1L << 40) / unit || number * unit > 1L << 40)
            return $"size {Quote(value)} is too large; at most 1024GB";
        if (number * unit < 1024)
            return $"must be at least 1KB; found {Quote(value)}";
        bytes = number * unit;
        return null;
    }

    /// <summary>Whether a connection string carries a password, which must then come from connectionRef.</summary>
    public static bool HoldsPassword(string connection) =>
        PasswordKeyRegex().IsMatch(connection) || UriPasswordRegex().IsMatch(connection);

    /// <summary>Parses a byte size: a whole number, optionally with B, KB, MB (powers of 1000) or KiB, MiB (powers of 1024).</summary>
    public static string? TryParseBytes(string value, out long bytes)
    {
        bytes = 0;
        var match = BytesRegex().Match(value);
        if (!match.Success)
            return $"malformed size {Quote(value)}: expected a number of bytes, optionally with a unit (B, KB, KiB, MB, MiB), e.g. 512KiB or 1MB";
        var unit = match.Groups["unit"].Value.ToLowerInvariant() switch
        {
            "" or "b" => 1L,
            "kb" => 1000L,
            "kib" => 1024L,
            "mb" => 1000_000L,
            _ => 1024L * 1024,
        };
        if (!long.TryParse(match.Groups["number"].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            || number > long.MaxValue / unit)
            return $"size {Quote(value)} is too large";
        bytes = number * unit;
        return null;
    }

    /// <summary>Parses <c>&lt;number&gt;&lt;unit&gt;</c> with unit ms, s, m or h; must be positive.</summary>
    public static string? TryParseDuration(string value, out TimeSpan duration)
    {
        duration = default;
        var match = DurationRegex().Match(value);
        if (!match.Success)
            return $"malformed duration {Quote(value)}: expected a number and a unit (ms, s, m or h), e.g. 250ms, 1.5s, 2m";
        if (match.Groups["sign"].Success)
            return $"must be positive; found {Quote(value)}";

        var ticksPerUnit = match.Groups["unit"].Value switch
        {
            "ms" => TimeSpan.TicksPerMillisecond,
            "s" => TimeSpan.TicksPerSecond,
            "m" => TimeSpan.TicksPerMinute,
            _ => TimeSpan.TicksPerHour,
        };
        // decimal keeps 1.1s exact where double would round to 1.0999999s.
        if (!decimal.TryParse(match.Groups["number"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)
            || number > TimeSpan.MaxValue.Ticks / (decimal)ticksPerUnit)
            return $"duration {Quote(value)} is too large";
        var ticks = (long)decimal.Round(number * ticksPerUnit);
        if (ticks <= 0)
            return $"must be positive; found {Quote(value)}";
        duration = TimeSpan.FromTicks(ticks);
        return null;
    }

    /// <summary>The known key nearest to <paramref name="unknown"/> within edit distance 2, ignoring case; null if none.</summary>
    public static string? NearestKey(string unknown, IEnumerable<string> known)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in known)
        {
            var distance = EditDistance(unknown.ToLowerInvariant(), candidate.ToLowerInvariant());
            // A two-letter key is two edits from any other two letters: no suggestion then.
            if (distance <= 2 && distance < candidate.Length && distance < bestDistance)
                (best, bestDistance) = (candidate, distance);
        }

        return best;
    }

    /// <summary>Levenshtein distance with two rolling rows.</summary>
    public static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
            previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    /// <summary>Quotes a value for a message, shortened so a pasted blob does not flood the output.</summary>
    public static string Quote(string value) =>
        value.Length <= 60 ? $"'{value}'" : $"'{value[..57]}...'";

    [GeneratedRegex("^[a-z][a-z0-9-]{2,62}$")]
    private static partial Regex NameRegex();

    [GeneratedRegex("^[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*$")]
    private static partial Regex PackageIdRegex();

    [GeneratedRegex(@"^(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)(?:-(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?$")]
    private static partial Regex SemVerRegex();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]*(?:[.+][A-Za-z_][A-Za-z0-9_]*)*$")]
    private static partial Regex TypeNameRegex();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvNameRegex();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]*$")]
    private static partial Regex SecretNameRegex();

    [GeneratedRegex("^(?<number>[0-9]{1,18})\\s*(?<unit>B|KB|KiB|MB|MiB)?$", RegexOptions.IgnoreCase)]
    private static partial Regex BytesRegex();

    [GeneratedRegex(@"^(?<sign>-)?(?<number>[0-9]{1,18}(?:\.[0-9]{1,9})?)(?<unit>ms|s|m|h)$")]
    private static partial Regex DurationRegex();

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}(?:\\.[a-z_][a-z0-9_]{0,62})?$")]
    private static partial Regex TableNameRegex();

    [GeneratedRegex("^(?<number>[0-9]{1,13})(?<unit>B|KB|MB|GB)$")]
    private static partial Regex SizeRegex();

    [GeneratedRegex(@"(?:^|;)\s*(?:password|pwd)\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex PasswordKeyRegex();

    [GeneratedRegex(@"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", RegexOptions.IgnoreCase)]
    private static partial Regex UriPasswordRegex();
}
