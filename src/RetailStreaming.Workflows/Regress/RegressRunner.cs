using RetailStreaming.Definitions;
using RetailStreaming.Store;
using RetailStreaming.Transforms;
using RetailStreaming.Workflows.Shadow;

namespace RetailStreaming.Workflows.Regress;

/// <summary>One sample whose outputs on the current build are not the recorded ones.</summary>
/// <param name="Position">The change's source position.</param>
/// <param name="Table">The change's table.</param>
/// <param name="Operation">The change's operation.</param>
/// <param name="Key">The change's primary key as compact JSON.</param>
/// <param name="Kind"><c>different</c> (other records) or <c>failed</c> (the current build could not run it).</param>
/// <param name="Diff">What differs, field by field (<c>payload.vat: recorded 2.4, now 2.5</c>), or why it failed.</param>
public sealed record RegressDifference(string Position, string Table, string Operation, string Key, string Kind, string Diff);

/// <summary>What running a workflow's recorded samples on the current build gave.</summary>
/// <param name="WorkflowId">The workflow.</param>
/// <param name="TransformPackage">The package its current definition runs.</param>
/// <param name="TransformVersion">The version its current definition runs (the samples recorded by it are run).</param>
/// <param name="Samples">Samples of that version that were run (or could not be).</param>
/// <param name="Same">Samples whose records were the recorded ones.</param>
/// <param name="Different">Samples with other records.</param>
/// <param name="Failed">Samples the current build rejected or could not run (the package did not load, a time budget overran).</param>
/// <param name="OtherVersions">Samples recorded by another version of the transform: not run (their outputs belong to that version).</param>
/// <param name="Error">Why the workflow could not be checked at all (no definition, the package did not load), or null.</param>
/// <param name="Differences">The first <see cref="MaxDifferences"/> differences and failures, in recording order.</param>
public sealed record RegressReport(
    string WorkflowId,
    string? TransformPackage,
    string? TransformVersion,
    int Samples,
    int Same,
    int Different,
    int Failed,
    int OtherVersions,
    string? Error,
    IReadOnlyList<RegressDifference> Differences)
{
    /// <summary>The most differences a report lists (all are counted).</summary>
    public const int MaxDifferences = 20;

    /// <summary>True when every sample gave the recorded records and nothing failed.</summary>
    public bool AllSame => Different == 0 && Failed == 0 && Error is null;
}

/// <summary>
/// Runs a workflow's recorded samples through the transform its current definition names, loaded
/// as the node loads it (the same loader, package store and runner, with the definition's settings
/// and time budget), and compares the records with the recorded ones as JSON values (the shadow
/// run's comparison). Only samples recorded by that package version are run: the question is
/// whether this build makes what that version made, not whether another version would.
/// </summary>
public static class RegressRunner
{
    private const int BatchSize = 100;

    /// <summary>Runs the samples; never throws for the transform's own faults.</summary>
    public static async Task<RegressReport> RunAsync(string workflowId, WorkflowDefinition definition, IReadOnlyList<RegressSample> samples,
        IWorkflowConnectors connectors, CancellationToken cancellationToken)
    {
        var t = definition.Transform;
        var mine = samples.Where(s => string.Equals(s.TransformPackage, t.Package, StringComparison.OrdinalIgnoreCase)
                                      && string.Equals(s.TransformVersion, t.Version, StringComparison.OrdinalIgnoreCase)).ToList();
        var others = samples.Count - mine.Count;
        var differences = new List<RegressDifference>();
        int same = 0, different = 0, failed = 0;
        if (mine.Count == 0)
            return new RegressReport(workflowId, t.Package, t.Version, 0, 0, 0, 0, others, null, []);

        IWorkflowTransform transform;
        try
        {
            transform = connectors.CreateTransform(definition, NullTransformLogger.Instance);
        }
        catch (Exception e)
        {
            return new RegressReport(workflowId, t.Package, t.Version, mine.Count, 0, 0, mine.Count, others,
                $"transform {t.Package} {t.Version} cannot be loaded on this build: {e.Message}", []);
        }

        using (transform)
        {
            var runnable = new List<(RegressSample Sample, ChangeEvent Change, IReadOnlyList<OutputRecord> Recorded)>();
            foreach (var sample in mine)
            {
                try
                {
                    runnable.Add((sample, ChangeEventJson.Deserialize(sample.InputJson), RecordedOutputs.Deserialize(sample.OutputsJson)));
                }
                catch (Exception e) when (e is FormatException or ArgumentException)
                {
                    Fail(sample, $"the recorded sample cannot be read: {e.Message}");
                }
            }

            var overran = false;
            foreach (var batch in runnable.Chunk(BatchSize))
            {
                if (overran)
                {
                    foreach (var (sample, _, _) in batch) Fail(sample, "not run: an earlier sample overran its time budget");
                    continue;
                }
                var outcomes = await transform.RunBatchAsync(batch.Select(b => b.Change).ToList(), cancellationToken).ConfigureAwait(false);
                for (var i = 0; i < batch.Length; i++)
                {
                    var (sample, _, recorded) = batch[i];
                    if (i >= outcomes.Count)
                    {
                        Fail(sample, "not run: an earlier sample overran its time budget");
                        continue;
                    }
                    var outcome = outcomes[i];
                    if (outcome.Outputs is not { } now)
                    {
                        Fail(sample, "the current build rejected it: " + outcome.Error);
                        overran |= outcome.Overran;
                        continue;
                    }
                    if (ShadowComparer.Diff(recorded, now, "recorded", "now") is { } diff)
                    {
                        different++;
                        Note(sample, "different", diff);
                    }
                    else
                    {
                        same++;
                    }
                }
            }
        }
        return new RegressReport(workflowId, t.Package, t.Version, mine.Count, same, different, failed, others, null, differences);

        void Fail(RegressSample sample, string reason)
        {
            failed++;
            Note(sample, "failed", reason);
        }

        void Note(RegressSample sample, string kind, string diff)
        {
            if (differences.Count < RegressReport.MaxDifferences)
                differences.Add(new RegressDifference(sample.Position, sample.Table, sample.Operation, sample.Key, kind, diff));
        }
    }
}
