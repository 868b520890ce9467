using Microsoft.Extensions.Time.Testing;
using RetailStreaming.Connectors.Webhooks;

namespace RetailStreaming.Connectors.Tests.Webhooks;

/// <summary>The endpoint's circuit breaker and adaptive rate, step by step on a fake clock.</summary>
public sealed class EndpointGovernorTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 26, 8, 0, 0, TimeSpan.Zero));
    private readonly HealthRecorder _observer = new();

    private EndpointGovernor Governor(int threshold = 3, int coolDownSeconds = 30)
    {
        var governor = new EndpointGovernor("https://hooks.example/retail",
            new CircuitBreakerOptions { FailureThreshold = threshold, CoolDown = TimeSpan.FromSeconds(coolDownSeconds) }, _time);
        governor.Subscribe(_observer);
        return governor;
    }

    private static async Task<EndpointPermit> Granted(ValueTask<EndpointPermit> acquire)
    {
        var task = acquire.AsTask();
        Assert.True(task.IsCompleted, "the permit should be granted at once");
        return await task;
    }

    private static async Task Yield() => await Task.Delay(20);

    [Fact]
    public async Task The_circuit_opens_after_the_threshold_lets_one_probe_through_after_the_cool_down_and_closes_on_success()
    {
        var governor = Governor();
        for (var i = 0; i < 2; i++)
            governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Failed);
        Assert.Equal(EndpointHealth.Closed, governor.Health.Circuit);
        governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Failed);

        var health = governor.Health;
        Assert.Equal(EndpointHealth.Open, health.Circuit);
        Assert.Equal(3, health.ConsecutiveFailures);
        Assert.Equal(_time.GetUtcNow().AddSeconds(30), health.OpenUntil);

        // Open: nothing may be sent until the cool-down is over.
        var probe = governor.AcquireAsync(default).AsTask();
        var second = governor.AcquireAsync(default).AsTask();
        _time.Advance(TimeSpan.FromSeconds(29));
        await Yield();
        Assert.False(probe.IsCompleted || second.IsCompleted, "an open circuit sent a request before its cool-down ended");

        // Half-open: one probe, the other waits for its outcome.
        _time.Advance(TimeSpan.FromSeconds(1));
        var first = await await Task.WhenAny(probe, second);
        Assert.True(first.Probe);
        Assert.Equal(EndpointHealth.HalfOpen, governor.Health.Circuit);
        var waiting = probe.IsCompleted ? second : probe;
        await Yield();
        Assert.False(waiting.IsCompleted, "a half-open circuit let a second request through beside its probe");

        governor.Report(first, EndpointOutcome.Accepted);
        Assert.False((await waiting.WaitAsync(TimeSpan.FromSeconds(5))).Probe);
        Assert.Equal(EndpointHealth.Closed, governor.Health.Circuit);
        Assert.Equal(0, governor.Health.ConsecutiveFailures);
        Assert.Equal([EndpointHealth.Closed, EndpointHealth.Open, EndpointHealth.HalfOpen, EndpointHealth.Closed], _observer.Circuits());
    }

    [Fact]
    public async Task A_failed_probe_opens_the_circuit_for_another_cool_down()
    {
        var governor = Governor(threshold: 1, coolDownSeconds: 10);
        governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Failed);
        var probe = governor.AcquireAsync(default).AsTask();
        _time.Advance(TimeSpan.FromSeconds(10));
        var permit = await probe.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(permit.Probe);

        governor.Report(permit, EndpointOutcome.Unavailable);
        Assert.Equal(EndpointHealth.Open, governor.Health.Circuit);
        Assert.Equal(_time.GetUtcNow().AddSeconds(10), governor.Health.OpenUntil);
    }

    [Fact]
    public async Task A_permanent_refusal_shows_the_endpoint_is_up_and_a_throttle_does_not_count_as_a_failure()
    {
        var governor = Governor(threshold: 2);
        governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Failed);
        governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Refused);
        governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Failed);
        Assert.Equal(EndpointHealth.Closed, governor.Health.Circuit);
        governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Neutral);
        Assert.Equal(EndpointHealth.Closed, governor.Health.Circuit);
        Assert.Equal(1, governor.Health.ConsecutiveFailures);
    }

    [Fact]
    public async Task No_breaker_when_the_threshold_is_zero()
    {
        var governor = Governor(threshold: 0);
        for (var i = 0; i < 50; i++)
            governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Failed);
        Assert.Equal(EndpointHealth.Closed, governor.Health.Circuit);
    }

    [Fact]
    public async Task Too_many_requests_halves_the_measured_rate_spaces_requests_and_recovers_gradually_after_successes()
    {
        var governor = Governor();
        // Ten requests per second.
        for (var i = 0; i < 5; i++)
        {
            governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Accepted);
            _time.Advance(TimeSpan.FromMilliseconds(100));
        }
        Assert.Null(governor.Health.RateLimitPerSecond);

        governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Throttled);
        Assert.Equal(5, governor.Health.RateLimitPerSecond!.Value, precision: 1);

        // Five per second: 200 ms between two requests.
        var next = governor.AcquireAsync(default).AsTask();
        _time.Advance(TimeSpan.FromMilliseconds(150));
        await Yield();
        Assert.False(next.IsCompleted, "the lowered rate did not space the requests");
        _time.Advance(TimeSpan.FromMilliseconds(60));
        var permit = await next.WaitAsync(TimeSpan.FromSeconds(5));
        governor.Report(permit, EndpointOutcome.Accepted);
        Assert.True(governor.Health.RateLimitPerSecond > 5, "an accepted request did not raise the limit");

        // Each success raises it by 2%; at four times the first limit it is lifted.
        var successes = 1;
        while (governor.Health.RateLimitPerSecond is not null && successes < 200)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Accepted);
            successes++;
        }
        Assert.Null(governor.Health.RateLimitPerSecond);
        Assert.InRange(successes, 60, 80); // log(4) / log(1.02) = 70
        Assert.Contains(_observer.Seen, h => h.RateLimitPerSecond is > 5 and < 20);
        Assert.Null(_observer.Seen[^1].RateLimitPerSecond);
    }

    [Fact]
    public async Task Retry_After_pauses_every_request_to_the_endpoint_until_then()
    {
        var governor = Governor();
        governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Throttled, TimeSpan.FromSeconds(10));
        Assert.Equal(_time.GetUtcNow().AddSeconds(10), governor.Health.PausedUntil);

        var waiting = governor.AcquireAsync(default).AsTask();
        _time.Advance(TimeSpan.FromSeconds(9));
        await Yield();
        Assert.False(waiting.IsCompleted, "a request went before the Retry-After ended");
        _time.Advance(TimeSpan.FromSeconds(1));
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_cancelled_wait_throws_and_a_released_probe_lets_the_next_request_probe()
    {
        var governor = Governor(threshold: 1, coolDownSeconds: 5);
        governor.Report(await Granted(governor.AcquireAsync(default)), EndpointOutcome.Failed);
        using var cancel = new CancellationTokenSource();
        var cancelled = governor.AcquireAsync(cancel.Token).AsTask();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        _time.Advance(TimeSpan.FromSeconds(5));
        var probe = await governor.AcquireAsync(default).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(probe.Probe);
        var next = governor.AcquireAsync(default).AsTask();
        await Yield();
        Assert.False(next.IsCompleted);
        governor.Release(probe);
        Assert.True((await next.WaitAsync(TimeSpan.FromSeconds(5))).Probe);
    }

    [Fact]
    public void Governors_are_shared_per_client_and_endpoint_never_across_clients()
    {
        var governors = new EndpointGovernors(_time);
        var breaker = new CircuitBreakerOptions();
        var a = governors.For("acme", new Uri("https://hooks.example/retail?token=1"), breaker);
        Assert.Same(a, governors.For("acme", new Uri("https://hooks.example/retail?token=2"), new CircuitBreakerOptions()));
        Assert.NotSame(a, governors.For("globex", new Uri("https://hooks.example/retail"), breaker));
        Assert.NotSame(a, governors.For("acme", new Uri("https://hooks.example/other"), breaker));
        Assert.Equal("https://hooks.example/retail", a.Endpoint);
    }

    private sealed class HealthRecorder : IDeliveryObserver
    {
        private readonly List<EndpointHealth> _seen = [];

        public IReadOnlyList<EndpointHealth> Seen
        {
            get { lock (_seen) return _seen.ToList(); }
        }

        public List<string> Circuits()
        {
            var circuits = new List<string>();
            foreach (var h in Seen)
                if (circuits.Count == 0 || circuits[^1] != h.Circuit) circuits.Add(h.Circuit);
            return circuits;
        }

        public void Retrying(int attempt, TimeSpan delay, string reason) { }

        public void Accepted(int records, TimeSpan duration) { }

        public void EndpointHealthChanged(EndpointHealth health)
        {
            lock (_seen) _seen.Add(health);
        }
    }
}
