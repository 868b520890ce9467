using System.Globalization;

namespace RetailStreaming.Definitions;

/// <summary><c>transform.autoRollback</c>.</summary>
internal sealed partial class DefinitionValidator
{
    private static readonly string[] AutoRollbackKeys = ["errorRate", "window", "minRecords"];
    private static readonly TimeSpan MinAutoRollbackWindow = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxAutoRollbackWindow = TimeSpan.FromDays(7);

    private AutoRollbackDefinition? AutoRollback(Fields transform)
    {
        if (Section(transform, "autoRollback", required: false, AutoRollbackKeys, NoneForbidden) is not { } f)
            return null;
        var rate = ErrorRate(f);
        var window = RequiredDuration(f, "window", "how long after an apply the new version is watched, e.g. 10m");
        if (window is { } w && (w < MinAutoRollbackWindow || w > MaxAutoRollbackWindow))
        {
            Error(f.Value("window")!, f.PathOf("window"), $"must be from 1s to 7 days (168h); found {Format(w)}");
            window = null;
        }
        var minRecords = Int(f, "minRecords", min: 1, max: 1_000_000) ?? 20;
        return rate is null || window is null ? null : new AutoRollbackDefinition(rate.Value, window.Value, minRecords);
    }

    private double? ErrorRate(Fields f)
    {
        const string hint = "the share of failed changes that rolls the version back, above 0 and at most 1, e.g. 0.5";
        var node = Required(f, "errorRate", hint);
        if (node is null)
            return null;
        var path = f.PathOf("errorRate");
        if (node is not YamlTreeScalar { IsNull: false } scalar
            || !double.TryParse(scalar.Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var rate))
        {
            Error(node, path, $"expected a number above 0 and at most 1, e.g. 0.5, found {Describe(node)}");
            return null;
        }
        if (rate is <= 0 or > 1)
        {
            Error(node, path, $"must be above 0 and at most 1; found {scalar.Value}");
            return null;
        }
        return rate;
    }

    private TimeSpan? RequiredDuration(Fields f, string name, string hint) =>
        Required(f, name, hint) is null ? null : Duration(f, name);
}
