namespace RetailStreaming.Transforms.Tests.PublicApi;

/// <summary>
/// The public surface of a build against the committed baseline. A line of the baseline that is
/// gone (a type or member removed, or changed: its old form is gone) breaks a transform compiled
/// against the baseline, and so does a new abstract member (every implementer of the interface or
/// deriver of the class lacks it). Any other new line is an addition, which compiled transforms
/// do not see.
/// </summary>
public sealed record PublicApiComparison(IReadOnlyList<string> Removed, IReadOnlyList<string> BreakingAdditions, IReadOnlyList<string> Additions)
{
    /// <summary>True when a transform compiled against the baseline may fail to load or run on this build.</summary>
    public bool IsBreaking => Removed.Count > 0 || BreakingAdditions.Count > 0;

    /// <summary>Compares the lines of <see cref="PublicApiSurface.Of"/> with a baseline's.</summary>
    public static PublicApiComparison Compare(IEnumerable<string> baseline, IEnumerable<string> current)
    {
        var before = baseline.Where(l => l.Length > 0 && !l.StartsWith('#')).ToHashSet(StringComparer.Ordinal);
        var now = current.ToHashSet(StringComparer.Ordinal);
        var removed = before.Where(l => !now.Contains(l)).Order(StringComparer.Ordinal).ToList();
        var added = now.Where(l => !before.Contains(l)).Order(StringComparer.Ordinal).ToList();
        var breaking = added.Where(IsAbstractMember).ToList();
        return new PublicApiComparison(removed, breaking, added.Except(breaking).ToList());
    }

    // "Type: abstract method ..." or "Type: static abstract method ...", and their properties and events.
    private static bool IsAbstractMember(string line) =>
        line.Contains(": abstract ", StringComparison.Ordinal) || line.Contains(": static abstract ", StringComparison.Ordinal)
        || line.Contains(": protected abstract ", StringComparison.Ordinal);

    /// <summary>What changed, for a person: each line with what it means.</summary>
    public string Report(string baselinePath)
    {
        var lines = new List<string>();
        if (IsBreaking)
        {
            lines.Add($"The public API of RetailStreaming.Transforms breaks transforms compiled against {baselinePath}:");
            lines.AddRange(Removed.Select(l => "  removed or changed: " + l));
            lines.AddRange(BreakingAdditions.Select(l => "  new abstract member (every implementer lacks it): " + l));
            lines.Add("Keep the old member beside the new one (or give the new interface member a default implementation). " +
                      "If the break is intended, raise the SDK's major version (src/RetailStreaming.Transforms, <Version>) and " +
                      "write the new baseline with RS_UPDATE_GOLDEN=1.");
        }
        if (Additions.Count > 0)
        {
            lines.Add($"{Additions.Count} addition(s), compatible (write them into the baseline with RS_UPDATE_GOLDEN=1):");
            lines.AddRange(Additions.Select(l => "  added: " + l));
        }
        return lines.Count == 0 ? "The public API is the baseline's." : string.Join(Environment.NewLine, lines);
    }
}
