using System.Globalization;

namespace RetailStreaming.Transforms;

/// <summary>What the platform tells a transform about where it runs.</summary>
/// <param name="WorkflowId">The workflow hosting the transform.</param>
/// <param name="ClientId">The client owning the workflow.</param>
/// <param name="TransformVersion">The package version being run.</param>
/// <param name="Settings">The <c>transform.settings</c> of the workflow definition.</param>
/// <param name="Logger">A logger whose lines carry the workflow id and transform version.</param>
public sealed record TransformContext(
    string WorkflowId,
    string ClientId,
    string TransformVersion,
    IReadOnlyDictionary<string, string> Settings,
    ITransformLogger Logger)
{
    /// <summary>A setting, or <paramref name="defaultValue"/> when the definition does not set it.</summary>
    public string GetSetting(string name, string defaultValue) =>
        Settings.TryGetValue(name, out var v) ? v : defaultValue;

    /// <summary>A required setting; throws naming the setting when the definition lacks it.</summary>
    public string GetRequiredSetting(string name) =>
        Settings.TryGetValue(name, out var v)
            ? v
            : throw new KeyNotFoundException($"The workflow definition has no transform setting '{name}'.");

    /// <summary>A numeric setting (invariant culture), or <paramref name="defaultValue"/>.</summary>
    public decimal GetDecimalSetting(string name, decimal defaultValue) =>
        Settings.TryGetValue(name, out var v)
            ? decimal.Parse(v, NumberStyles.Number, CultureInfo.InvariantCulture)
            : defaultValue;
}
