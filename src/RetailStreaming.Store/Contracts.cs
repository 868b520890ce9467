namespace RetailStreaming.Store;

/// <summary>A change or record the workflow gave up on, stored with its input and the reason.</summary>
/// <param name="Id">Store-assigned id (0 before it is stored).</param>
/// <param name="WorkflowId">The workflow.</param>
/// <param name="ClientId">The client owning the workflow.</param>
/// <param name="Stage"><c>transform</c> or <c>delivery</c>.</param>
/// <param name="Position">The source position of the change.</param>
/// <param name="OutputIndex">For delivery dead letters: the record's index among its change's outputs.</param>
/// <param name="TransformVersion">The transform package version that ran (or produced the record).</param>
/// <param name="Reason">Why: the exception or the endpoint's status and answer.</param>
/// <param name="InputJson">The change, as ChangeEventJson writes it.</param>
/// <param name="OutputJson">For delivery dead letters: the record that was refused, as JSON.</param>
/// <param name="CreatedAt">When it was stored.</param>
/// <param name="Attempts">For delivery dead letters: every delivery attempt, oldest first (null when not recorded); redrives add theirs.</param>
/// <param name="Redrive">The last redrive, or null when it was never redriven.</param>
/// <param name="Superseded">Set when a later change of the same source row was delivered since: redriving it would roll the client's data back.</param>
public sealed record DeadLetter(
    long Id,
    string WorkflowId,
    string ClientId,
    string Stage,
    string Position,
    int? OutputIndex,
    string? TransformVersion,
    string Reason,
    string InputJson,
    string? OutputJson,
    DateTimeOffset CreatedAt,
    IReadOnlyList<DeadLetterAttempt>? Attempts = null,
    DeadLetterRedrive? Redrive = null,
    DeadLetterSuperseded? Superseded = null);

/// <summary>The last redrive of a dead letter.</summary>
/// <param name="At">When it ended.</param>
/// <param name="Outcome"><c>delivered</c> (the endpoint accepted every record) or <c>failed</c> (see the last attempt).</param>
/// <param name="TransformVersion">For transform dead letters: the transform version that ran.</param>
/// <param name="Count">How many redrives there were.</param>
public sealed record DeadLetterRedrive(DateTimeOffset At, string Outcome, string? TransformVersion, int Count);

/// <summary>A later change of the same source row was delivered after this dead letter.</summary>
/// <param name="ByPosition">The position of that change.</param>
/// <param name="At">When it was seen.</param>
public sealed record DeadLetterSuperseded(string ByPosition, DateTimeOffset At);

/// <summary>A source row (table, primary key as compact JSON) with an open dead letter at a position.</summary>
/// <param name="Table">The source table.</param>
/// <param name="Key">The row's primary key as compact JSON (as ChangeEventJson writes it).</param>
/// <param name="Position">The dead letter's position.</param>
public sealed record OpenDeadLetterRow(string Table, string Key, string Position);

/// <summary>Which dead letters of a workflow a redrive takes (every criterion set must hold).</summary>
/// <param name="Stage"><c>transform</c> or <c>delivery</c>, or null for both.</param>
/// <param name="Table">The source table, or null for all.</param>
/// <param name="FromId">The lowest entry id, or null.</param>
/// <param name="ToId">The highest entry id, or null.</param>
public sealed record DeadLetterFilter(string? Stage = null, string? Table = null, long? FromId = null, long? ToId = null);

/// <summary>How many dead letters of a workflow a retention purge removed.</summary>
/// <param name="WorkflowId">The workflow.</param>
/// <param name="Count">How many.</param>
public sealed record PurgedDeadLetters(string WorkflowId, int Count);

/// <summary>One delivery attempt of a dead-lettered record.</summary>
/// <param name="At">When the attempt ended.</param>
/// <param name="StatusCode">The endpoint's HTTP status, when it answered.</param>
/// <param name="Detail">What happened: a snippet of the response, or the transport error.</param>
public sealed record DeadLetterAttempt(DateTimeOffset At, int? StatusCode, string Detail);

/// <summary>The dead-letter store: durable, per workflow.</summary>
public interface IDeadLetterStore
{
    /// <summary>Stores a dead letter durably (committed when the task completes); returns its id.</summary>
    Task<long> AddAsync(DeadLetter letter, CancellationToken cancellationToken = default);

    /// <summary>Dead letters of a workflow (or of all when null), oldest first, after <paramref name="afterId"/>.</summary>
    Task<IReadOnlyList<DeadLetter>> ListAsync(string? workflowId, long afterId = 0, int limit = 100, CancellationToken cancellationToken = default);

    /// <summary>One dead letter, or null.</summary>
    Task<DeadLetter?> GetAsync(long id, CancellationToken cancellationToken = default);

    /// <summary>How many dead letters a workflow has.</summary>
    Task<long> CountAsync(string workflowId, CancellationToken cancellationToken = default);

    /// <summary>The source rows of a workflow's open dead letters (not superseded, not redriven with success).</summary>
    Task<IReadOnlyList<OpenDeadLetterRow>> ListOpenRowsAsync(string workflowId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Marks the open dead letters of one source row before <paramref name="byPosition"/> superseded
    /// by it (a later change of that row was delivered); returns how many.
    /// </summary>
    Task<int> MarkSupersededAsync(string workflowId, string table, string key, string byPosition, CancellationToken cancellationToken = default);

    /// <summary>
    /// The dead letters of a workflow a redrive takes, in source order (position, then id):
    /// those matching <paramref name="filter"/> that were not redriven with success.
    /// </summary>
    Task<IReadOnlyList<DeadLetter>> SelectForRedriveAsync(string workflowId, DeadLetterFilter filter, int limit, CancellationToken cancellationToken = default);

    /// <summary>Records a redrive of one dead letter: its outcome, the transform version that ran, and its attempt (appended).</summary>
    Task RecordRedriveAsync(long id, string outcome, string? transformVersion, DeadLetterAttempt attempt, CancellationToken cancellationToken = default);

    /// <summary>Deletes every dead letter (and its attempts) stored before <paramref name="cutoff"/>; returns the counts per workflow.</summary>
    Task<IReadOnlyList<PurgedDeadLetters>> PurgeAsync(DateTimeOffset cutoff, CancellationToken cancellationToken = default);
}

/// <summary>A workflow known to the platform (whichever node runs it).</summary>
/// <param name="WorkflowId">The workflow id.</param>
/// <param name="ClientId">The client owning it.</param>
/// <param name="CreatedAt">When its first definition was applied.</param>
/// <param name="Deleted">True once deleted.</param>
public sealed record WorkflowEntry(string WorkflowId, string ClientId, DateTimeOffset CreatedAt, bool Deleted);

/// <summary>
/// Every workflow of the platform, so that the admin API answers for the whole cluster and
/// not only for the entities living on the node it asks.
/// </summary>
public interface IWorkflowRegistry
{
    /// <summary>Records a workflow (idempotent: a second call for the same id keeps its creation time).</summary>
    Task RegisterAsync(string workflowId, string clientId, CancellationToken cancellationToken = default);

    /// <summary>Marks a workflow deleted.</summary>
    Task MarkDeletedAsync(string workflowId, CancellationToken cancellationToken = default);

    /// <summary>One workflow, deleted or not, or null when it was never registered.</summary>
    Task<WorkflowEntry?> GetAsync(string workflowId, CancellationToken cancellationToken = default);

    /// <summary>Every workflow not deleted, by id; only the client's when <paramref name="clientId"/> is set.</summary>
    Task<IReadOnlyList<WorkflowEntry>> ListAsync(string? clientId = null, CancellationToken cancellationToken = default);
}

/// <summary>What a token may do.</summary>
/// <param name="Id">Public token id (shown in listings; the secret itself is never stored).</param>
/// <param name="Role"><c>operator</c> (everything) or <c>client</c> (read-only, one client's workflows).</param>
/// <param name="ClientId">For client tokens, the client.</param>
/// <param name="Description">Who or what it is for.</param>
/// <param name="CreatedAt">When it was issued.</param>
/// <param name="RevokedAt">When it was revoked, or null.</param>
public sealed record TokenInfo(string Id, string Role, string? ClientId, string Description, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

/// <summary>Admin API tokens, stored as SHA-256 hashes only.</summary>
public interface ITokenStore
{
    /// <summary>Issues a token and returns its secret text (shown once) with its info.</summary>
    Task<(string Secret, TokenInfo Info)> IssueAsync(string role, string? clientId, string description, CancellationToken cancellationToken = default);

    /// <summary>The token's info when the secret is valid and not revoked, else null.</summary>
    Task<TokenInfo?> AuthenticateAsync(string secret, CancellationToken cancellationToken = default);

    /// <summary>All tokens (never their secrets).</summary>
    Task<IReadOnlyList<TokenInfo>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Revokes a token by id; false when there is no such token.</summary>
    Task<bool> RevokeAsync(string id, CancellationToken cancellationToken = default);
}
