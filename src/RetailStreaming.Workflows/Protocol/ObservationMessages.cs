namespace RetailStreaming.Workflows.Protocol;

/// <summary>
/// Questions every node's observation actor (<c>/user/rs-observations</c>) answers from what it
/// keeps in memory: the last hour of per-workflow samples and the recent records of the workflows
/// it hosts. The admin API asks every member and merges the answers, since a workflow's samples and
/// records stay on the node that hosted it when it moves.
/// </summary>
public static class Observations
{
    /// <summary>The samples taken since a time, of some workflows (null: all).</summary>
    public sealed record GetSamples(DateTimeOffset Since, IReadOnlyList<string>? WorkflowIds) : IRetailStreamingMessage;

    /// <summary>One node's samples, oldest first.</summary>
    public sealed record Samples(string Node, TimeSpan Interval, IReadOnlyList<WorkflowSample> Items) : IRetailStreamingMessage;

    /// <summary>The records of a workflow whose source key (and table, when set) match, newest first.</summary>
    public sealed record FindRecords(string WorkflowId, string Key, string? Table, int Limit) : IRetailStreamingMessage;

    /// <summary>One node's matching records, and how far back its trail of that workflow reaches.</summary>
    /// <param name="Node">The answering node.</param>
    /// <param name="Entries">The matches, newest first.</param>
    /// <param name="Held">Records of the workflow this node holds.</param>
    /// <param name="Capacity">Most records it holds per workflow.</param>
    /// <param name="OldestAt">When the oldest held record was delivered (the reach of a lookup there).</param>
    public sealed record RecordsFound(string Node, IReadOnlyList<RecordTrailEntry> Entries, int Held, int Capacity, DateTimeOffset? OldestAt) : IRetailStreamingMessage;
}

/// <summary>A workflow's figures at one moment, as the node hosting it sampled them (counters are totals since the entity started there).</summary>
public sealed record WorkflowSample(
    DateTimeOffset At,
    string WorkflowId,
    string? ClientId,
    string Node,
    string State,
    long CapturedChanges,
    long DeliveredRecords,
    long DeadLetters,
    long Retries,
    int Restarts,
    double? SourceLagSeconds,
    double? LatencyMs,
    long InFlight);

/// <summary>
/// One source change on its way through a workflow: when it was committed, captured and finished,
/// which transform version ran, and what became of its records.
/// </summary>
/// <param name="Table">The source table.</param>
/// <param name="Operation">insert, update, delete or read.</param>
/// <param name="Key">The source row's primary key as compact JSON.</param>
/// <param name="Position">The source position.</param>
/// <param name="CommitTime">When the source committed it.</param>
/// <param name="CapturedAt">When the capture read it (null when no longer known).</param>
/// <param name="FinishedAt">When its batch was delivered (or its records dead-lettered).</param>
/// <param name="TransformVersion">The transform version that ran.</param>
/// <param name="Records">How many records the transform made of it.</param>
/// <param name="Outcome"><c>delivered</c>, <c>dropped</c> (no record), <c>transform-rejected</c> or <c>refused</c> (the last two are dead-lettered).</param>
/// <param name="Requests">Requests the sink made for its batch (1: accepted at the first try).</param>
/// <param name="Answer">The endpoint's answer or the transform's error, shortened.</param>
/// <param name="Attempts">For refused records: every request that carried it; for records delivered after failed requests: those failures (their reasons) and the acceptance.</param>
/// <param name="IdempotencyKeys">The keys of its records.</param>
public sealed record RecordTrailEntry(
    string Table,
    string Operation,
    string Key,
    string Position,
    DateTimeOffset CommitTime,
    DateTimeOffset? CapturedAt,
    DateTimeOffset FinishedAt,
    string TransformVersion,
    int Records,
    string Outcome,
    int Requests,
    string? Answer,
    IReadOnlyList<RecordTrailAttempt>? Attempts,
    IReadOnlyList<string> IdempotencyKeys);

/// <summary>One request that carried a record, and its answer.</summary>
public sealed record RecordTrailAttempt(DateTimeOffset At, int? StatusCode, string Detail);
