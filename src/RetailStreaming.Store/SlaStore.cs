using System.Globalization;

namespace RetailStreaming.Store;

/// <summary>How a stretch of a workflow's time counts towards its uptime.</summary>
public enum SlaTime
{
    /// <summary>Not counted: the workflow was not meant to run (no definition, deleted).</summary>
    None,
    /// <summary>Healthy.</summary>
    Up,
    /// <summary>Lagging, failing or stalled.</summary>
    Down,
    /// <summary>Paused by an operator: shown apart, not counted as down.</summary>
    Paused,
}

/// <summary>What one observation of a workflow adds to its SLA history.</summary>
/// <param name="WorkflowId">The workflow.</param>
/// <param name="ClientId">The client owning it.</param>
/// <param name="From">Start of the stretch of time observed.</param>
/// <param name="To">Its end.</param>
/// <param name="Time">How the stretch counts.</param>
/// <param name="Delivered">Changes delivered during it (counted in the minute of <paramref name="To"/>).</param>
/// <param name="LatencyMs">A commit-to-delivery latency seen during it, if any.</param>
public sealed record SlaObservation(string WorkflowId, string ClientId, DateTimeOffset From, DateTimeOffset To, SlaTime Time, long Delivered, double? LatencyMs);

/// <summary>A workflow's SLA figures over a period, as stored.</summary>
/// <param name="WorkflowId">The workflow.</param>
/// <param name="ClientId">The client owning it.</param>
/// <param name="Up">Time healthy.</param>
/// <param name="Down">Time lagging, failing or stalled.</param>
/// <param name="Paused">Time paused by an operator.</param>
/// <param name="Delivered">Changes delivered.</param>
/// <param name="FirstMinute">The first minute with a record in the period.</param>
/// <param name="LatencyBuckets">Latency samples per bucket (see <see cref="SlaLatency"/>).</param>
public sealed record SlaFigures(string WorkflowId, string ClientId, TimeSpan Up, TimeSpan Down, TimeSpan Paused, long Delivered,
    DateTimeOffset FirstMinute, IReadOnlyDictionary<int, long> LatencyBuckets);

/// <summary>Latency histogram buckets: bucket b holds latencies in (1.1^(b-1), 1.1^b] ms, so a percentile is within 10 %.</summary>
public static class SlaLatency
{
    private static readonly double LogBase = Math.Log(1.1);

    /// <summary>The bucket of a latency (0 for 1 ms or less).</summary>
    public static int Bucket(double ms) => ms <= 1 ? 0 : (int)Math.Ceiling(Math.Log(ms) / LogBase - 1e-9);

    /// <summary>The upper bound of a bucket, in ms.</summary>
    public static double UpperBound(int bucket) => Math.Pow(1.1, bucket);

    /// <summary>The p-th percentile (0..1) as the upper bound of the bucket holding it; null without samples.</summary>
    public static double? Percentile(IReadOnlyDictionary<int, long> buckets, double p)
    {
        var total = buckets.Values.Sum();
        if (total == 0) return null;
        var rank = (long)Math.Ceiling(p * total);
        long seen = 0;
        foreach (var (bucket, count) in buckets.OrderBy(b => b.Key))
        {
            seen += count;
            if (seen >= Math.Max(1, rank)) return UpperBound(bucket);
        }
        return UpperBound(buckets.Keys.Max());
    }
}

/// <summary>
/// The SLA history in the platform store, per workflow and minute (time up, down, paused; changes
/// delivered) and per hour (latency histogram), so that it survives the loss of a node and any node
/// can report it.
/// </summary>
public sealed class SlaStore
{
    private readonly PlatformDatabase _database;

    internal SlaStore(PlatformDatabase database) => _database = database;

    /// <summary>Adds an observation, split over the minutes it spans, in one transaction.</summary>
    public async Task RecordAsync(SlaObservation o, CancellationToken cancellationToken = default)
    {
        DeadLetterStore.RequireText(o.WorkflowId, nameof(o.WorkflowId));
        if (o.To < o.From) throw new ArgumentException("To is before From.", nameof(o));
        var rows = new Dictionary<DateTimeOffset, (long Up, long Down, long Paused, long Delivered)>();
        for (var start = o.From; start < o.To;)
        {
            var minute = Floor(start, TimeSpan.FromMinutes(1));
            var end = minute.AddMinutes(1) < o.To ? minute.AddMinutes(1) : o.To;
            var ms = (long)(end - start).TotalMilliseconds;
            var r = rows.GetValueOrDefault(minute);
            rows[minute] = o.Time switch
            {
                SlaTime.Up => r with { Up = r.Up + ms },
                SlaTime.Down => r with { Down = r.Down + ms },
                SlaTime.Paused => r with { Paused = r.Paused + ms },
                _ => r,
            };
            start = end;
        }
        if (o.Delivered > 0)
        {
            var minute = Floor(o.To, TimeSpan.FromMinutes(1));
            var r = rows.GetValueOrDefault(minute);
            rows[minute] = r with { Delivered = r.Delivered + o.Delivered };
        }

        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (minute, r) in rows)
        {
            if (r == default) continue;
            await using var upsert = connection.Command("""
                INSERT INTO sla_minutes (workflow_id, minute, client_id, up_ms, down_ms, paused_ms, delivered)
                VALUES (@workflow_id, @minute, @client_id, @up, @down, @paused, @delivered)
                ON CONFLICT (workflow_id, minute) DO UPDATE SET
                    up_ms = sla_minutes.up_ms + excluded.up_ms,
                    down_ms = sla_minutes.down_ms + excluded.down_ms,
                    paused_ms = sla_minutes.paused_ms + excluded.paused_ms,
                    delivered = sla_minutes.delivered + excluded.delivered
                """, transaction)
                .With("@workflow_id", o.WorkflowId)
                .With("@minute", _database.TimeParameter(minute))
                .With("@client_id", o.ClientId)
                .With("@up", r.Up)
                .With("@down", r.Down)
                .With("@paused", r.Paused)
                .With("@delivered", r.Delivered);
            await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        if (o.LatencyMs is { } latency && latency >= 0)
        {
            await using var upsert = connection.Command("""
                INSERT INTO sla_latency (workflow_id, hour, bucket, count) VALUES (@workflow_id, @hour, @bucket, 1)
                ON CONFLICT (workflow_id, hour, bucket) DO UPDATE SET count = sla_latency.count + 1
                """, transaction)
                .With("@workflow_id", o.WorkflowId)
                .With("@hour", _database.TimeParameter(Floor(o.To, TimeSpan.FromHours(1))))
                .With("@bucket", SlaLatency.Bucket(latency));
            await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Figures per workflow (of one client, or all) for the minutes in [<paramref name="from"/>, <paramref name="to"/>);
    /// latency for the hours starting in that range.
    /// </summary>
    public async Task<IReadOnlyList<SlaFigures>> FiguresAsync(string? clientId, string? workflowId, DateTimeOffset from, DateTimeOffset to,
        CancellationToken cancellationToken = default)
    {
        await using var connection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        var filter = (clientId is null ? "" : " AND client_id = @client_id") + (workflowId is null ? "" : " AND workflow_id = @workflow_id");
        var figures = new Dictionary<string, (string Client, long Up, long Down, long Paused, long Delivered, DateTimeOffset First)>(StringComparer.Ordinal);
        await using (var command = connection.Command($"""
            SELECT workflow_id, MIN(client_id), SUM(up_ms), SUM(down_ms), SUM(paused_ms), SUM(delivered), MIN(minute)
            FROM sla_minutes WHERE minute >= @from AND minute < @to{filter}
            GROUP BY workflow_id ORDER BY workflow_id
            """))
        {
            command.With("@from", _database.TimeParameter(Floor(from, TimeSpan.FromMinutes(1)))).With("@to", _database.TimeParameter(to));
            if (clientId is not null) command.With("@client_id", clientId);
            if (workflowId is not null) command.With("@workflow_id", workflowId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                figures[reader.GetString(0)] = (reader.GetString(1), Long(reader.GetValue(2)), Long(reader.GetValue(3)),
                    Long(reader.GetValue(4)), Long(reader.GetValue(5)), _database.ReadTime(reader, 6));
        }

        var buckets = new Dictionary<string, Dictionary<int, long>>(StringComparer.Ordinal);
        await using (var command = connection.Command($"""
            SELECT workflow_id, bucket, SUM(count) FROM sla_latency
            WHERE hour >= @from AND hour < @to{(workflowId is null ? "" : " AND workflow_id = @workflow_id")}
            GROUP BY workflow_id, bucket
            """))
        {
            command.With("@from", _database.TimeParameter(Floor(from, TimeSpan.FromHours(1)))).With("@to", _database.TimeParameter(to));
            if (workflowId is not null) command.With("@workflow_id", workflowId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var id = reader.GetString(0);
                if (!buckets.TryGetValue(id, out var b)) buckets[id] = b = [];
                b[reader.GetInt32(1)] = Long(reader.GetValue(2));
            }
        }

        return figures.Select(f => new SlaFigures(f.Key, f.Value.Client, TimeSpan.FromMilliseconds(f.Value.Up),
                TimeSpan.FromMilliseconds(f.Value.Down), TimeSpan.FromMilliseconds(f.Value.Paused), f.Value.Delivered, f.Value.First,
                buckets.TryGetValue(f.Key, out var b) ? b : new Dictionary<int, long>()))
            .ToList();
    }

    private static long Long(object value) => value is DBNull ? 0 : Convert.ToInt64(value, CultureInfo.InvariantCulture);

    internal static DateTimeOffset Floor(DateTimeOffset t, TimeSpan unit)
    {
        var ticks = t.UtcTicks;
        return new DateTimeOffset(ticks - ticks % unit.Ticks, TimeSpan.Zero);
    }
}
