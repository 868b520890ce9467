using System.Globalization;

namespace RetailStreaming.TransformHost;

/// <summary>
/// A NuGet package version (SemVer 2 with NuGet's optional fourth number), compared and
/// normalized as NuGet does: <c>1.0</c>, <c>1.0.0</c> and <c>1.0.0.0</c> are one version,
/// build metadata is ignored, prerelease labels compare case-insensitively.
/// </summary>
internal sealed class PackageVersion : IComparable<PackageVersion>, IEquatable<PackageVersion>
{
    private readonly int[] _numbers;
    private readonly string[] _release;

    private PackageVersion(int[] numbers, string[] release)
    {
        _numbers = numbers;
        _release = release;
        var text = string.Join('.', numbers.Take(numbers[3] > 0 ? 4 : 3));
        Normalized = release.Length == 0 ? text : $"{text}-{string.Join('.', release)}";
    }

    /// <summary>The normalized form, as NuGet names the package file: <c>1.2.0</c>, <c>1.2.0-beta.1</c>.</summary>
    public string Normalized { get; }

    /// <summary>The SemVer major number.</summary>
    public int Major => _numbers[0];

    public static bool TryParse(string? text, out PackageVersion version)
    {
        version = null!;
        if (string.IsNullOrWhiteSpace(text)) return false;
        text = text.Trim();
        var plus = text.IndexOf('+');
        if (plus >= 0) text = text[..plus];
        var dash = text.IndexOf('-');
        var numberPart = dash >= 0 ? text[..dash] : text;
        var releasePart = dash >= 0 ? text[(dash + 1)..] : null;

        var parts = numberPart.Split('.');
        if (parts.Length is < 1 or > 4) return false;
        var numbers = new int[4];
        for (var i = 0; i < parts.Length; i++)
        {
            if (parts[i].Length == 0 || !parts[i].All(char.IsAsciiDigit)
                || !int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out numbers[i]))
                return false;
        }

        var release = Array.Empty<string>();
        if (releasePart is not null)
        {
            release = releasePart.Split('.');
            if (release.Any(label => label.Length == 0 || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-')))
                return false;
        }

        version = new PackageVersion(numbers, release);
        return true;
    }

    public int CompareTo(PackageVersion? other)
    {
        if (other is null) return 1;
        for (var i = 0; i < 4; i++)
        {
            var c = _numbers[i].CompareTo(other._numbers[i]);
            if (c != 0) return c;
        }
        // A release sorts after its prereleases.
        if (_release.Length == 0 && other._release.Length == 0) return 0;
        if (_release.Length == 0) return 1;
        if (other._release.Length == 0) return -1;
        for (var i = 0; i < Math.Min(_release.Length, other._release.Length); i++)
        {
            var c = CompareLabel(_release[i], other._release[i]);
            if (c != 0) return c;
        }
        return _release.Length.CompareTo(other._release.Length);
    }

    private static int CompareLabel(string a, string b)
    {
        var aNumeric = a.All(char.IsAsciiDigit);
        var bNumeric = b.All(char.IsAsciiDigit);
        if (aNumeric && bNumeric)
        {
            var trimmedA = a.TrimStart('0');
            var trimmedB = b.TrimStart('0');
            return trimmedA.Length != trimmedB.Length
                ? trimmedA.Length.CompareTo(trimmedB.Length)
                : string.CompareOrdinal(trimmedA, trimmedB);
        }
        if (aNumeric) return -1;
        if (bNumeric) return 1;
        return string.Compare(a, b, StringComparison.OrdinalIgnoreCase);
    }

    public bool Equals(PackageVersion? other) => other is not null && CompareTo(other) == 0;

    public override bool Equals(object? obj) => Equals(obj as PackageVersion);

    public override int GetHashCode() => StringComparer.OrdinalIgnoreCase.GetHashCode(Normalized);

    public override string ToString() => Normalized;
}
