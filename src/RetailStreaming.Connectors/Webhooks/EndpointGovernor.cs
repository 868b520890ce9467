using System.Collections.Concurrent;

namespace RetailStreaming.Connectors.Webhooks;

/// <summary>When an endpoint's circuit opens and how long it stays open.</summary>
public sealed record CircuitBreakerOptions
{
    /// <summary>Consecutive transient failures (5xx, 408, timeouts, connection errors) that open the circuit; 0: no breaker.</summary>
    public int FailureThreshold { get; init; } = 5;

    /// <summary>How long an open circuit sends nothing before one probe request may go.</summary>
    public TimeSpan CoolDown { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid option.</summary>
    public void Validate()
    {
        if (FailureThreshold < 0)
            throw new ArgumentException("The circuit breaker failure threshold cannot be negative (0 turns it off).", nameof(FailureThreshold));
        if (CoolDown <= TimeSpan.Zero)
            throw new ArgumentException("The circuit breaker cool-down must be positive.", nameof(CoolDown));
    }
}

/// <summary>What one request's answer says about the endpoint.</summary>
public enum EndpointOutcome
{
    /// <summary>2xx.</summary>
    Accepted,

    /// <summary>A permanent refusal (4xx): the endpoint is up and answering.</summary>
    Refused,

    /// <summary>429: up, but asks for fewer requests.</summary>
    Throttled,

    /// <summary>503: down for now, and asks for fewer requests.</summary>
    Unavailable,

    /// <summary>Other 5xx, 408, timeouts, connection errors.</summary>
    Failed,

    /// <summary>Says nothing about the endpoint's health (409, or a request cancelled by its caller).</summary>
    Neutral,
}

/// <summary>A permission to send one request, given by <see cref="EndpointGovernor.AcquireAsync"/>.</summary>
/// <param name="Probe">True when it is the one request a half-open circuit lets through.</param>
public readonly record struct EndpointPermit(bool Probe);

/// <summary>
/// The state one endpoint shares between every sink that sends to it on this node: a circuit
/// breaker and an adaptive rate limit.
/// </summary>
/// <remarks>
/// <para><b>Circuit breaker.</b> <see cref="CircuitBreakerOptions.FailureThreshold"/> consecutive
/// failures (<see cref="EndpointOutcome.Failed"/> or <see cref="EndpointOutcome.Unavailable"/>) open
/// it: for <see cref="CircuitBreakerOptions.CoolDown"/> no request is sent. Then it is half-open: one
/// request (the probe) goes, the others wait; an answer from the endpoint (2xx or a permanent 4xx)
/// closes it, a failure opens it again for another cool-down.</para>
/// <para><b>Rate.</b> Unlimited until a 429 or 503: then the allowed rate becomes half the rate
/// measured before it (or half the current limit), at least <see cref="MinRatePerSecond"/>
/// request per second, and requests are spaced accordingly. Each accepted request raises it by
/// <see cref="RecoveryPerSuccess"/>; once it is four times the first limit it is lifted. A
/// <c>Retry-After</c> pauses every sink of the endpoint until then.</para>
/// <para>Thread-safe. Observers are told of changes outside the lock.</para>
/// </remarks>
public sealed class EndpointGovernor
{
    /// <summary>The lowest rate a throttled endpoint is sent at.</summary>
    public const double MinRatePerSecond = 0.1;

    /// <summary>How much each accepted request raises a rate limit (2%).</summary>
    public const double RecoveryPerSuccess = 0.02;

    private static readonly TimeSpan RateReportInterval = TimeSpan.FromSeconds(1);

    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly CircuitBreakerOptions _breaker;
    private readonly List<IDeliveryObserver> _observers = [];

    private string _circuit = EndpointHealth.Closed;
    private int _failures;
    private DateTimeOffset _openUntil;
    private bool _probing;
    private TaskCompletionSource _changed = NewSignal();
    private DateTimeOffset _changedAt;

    private double? _limit;
    private double _liftAbove;
    private DateTimeOffset _nextSlot;
    private DateTimeOffset _pausedUntil;
    private DateTimeOffset? _lastAcquired;
    private double _meanIntervalSeconds = -1;
    private DateTimeOffset _lastRateReport;

    /// <summary>Creates the state of one endpoint.</summary>
    /// <param name="endpoint">The endpoint as status shows it (no query, no credentials).</param>
    /// <param name="breaker">The circuit breaker's settings.</param>
    /// <param name="timeProvider">The clock; the system clock by default.</param>
    public EndpointGovernor(string endpoint, CircuitBreakerOptions? breaker = null, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(endpoint);
        _breaker = breaker ?? new CircuitBreakerOptions();
        _breaker.Validate();
        _time = timeProvider ?? TimeProvider.System;
        Endpoint = endpoint;
        _changedAt = _time.GetUtcNow();
    }

    /// <summary>The endpoint.</summary>
    public string Endpoint { get; }

    /// <summary>The breaker's settings.</summary>
    public CircuitBreakerOptions Breaker => _breaker;

    /// <summary>The state now.</summary>
    public EndpointHealth Health
    {
        get { lock (_gate) return Snapshot(_time.GetUtcNow()); }
    }

    /// <summary>Tells <paramref name="observer"/> of every change, and at once of the current state, until disposed.</summary>
    public IDisposable Subscribe(IDeliveryObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        EndpointHealth health;
        lock (_gate)
        {
            _observers.Add(observer);
            health = Snapshot(_time.GetUtcNow());
        }
        observer.EndpointHealthChanged(health);
        return new Subscription(this, observer);
    }

    /// <summary>
    /// Waits until a request may be sent: the circuit is closed (or this is the half-open probe), no
    /// Retry-After pause runs, and the rate limit allows it.
    /// </summary>
    public async ValueTask<EndpointPermit> AcquireAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            TimeSpan wait;
            Task changed;
            EndpointHealth? report = null;
            EndpointPermit? permit = null;
            lock (_gate)
            {
                var now = _time.GetUtcNow();
                if (_circuit == EndpointHealth.Open && now >= _openUntil)
                    report = Transition(EndpointHealth.HalfOpen, now);

                // A change of the circuit (closed by a request that was already under way, or the
                // probe's outcome) wakes every waiter.
                changed = _changed.Task;
                if (_circuit == EndpointHealth.Open)
                {
                    wait = _openUntil - now;
                }
                else if (_circuit == EndpointHealth.HalfOpen && _probing)
                {
                    wait = Timeout.InfiniteTimeSpan;
                }
                else
                {
                    wait = _pausedUntil - now;
                    if (_limit is not null && _nextSlot - now > wait) wait = _nextSlot - now;
                    if (wait <= TimeSpan.Zero)
                    {
                        var probe = _circuit == EndpointHealth.HalfOpen;
                        if (probe) _probing = true;
                        if (_limit is { } limit)
                            _nextSlot = (_nextSlot > now ? _nextSlot : now) + TimeSpan.FromSeconds(1 / limit);
                        if (_lastAcquired is { } last)
                        {
                            var interval = Math.Max(0.0005, (now - last).TotalSeconds);
                            _meanIntervalSeconds = _meanIntervalSeconds < 0 ? interval : 0.8 * _meanIntervalSeconds + 0.2 * interval;
                        }
                        _lastAcquired = now;
                        permit = new EndpointPermit(probe);
                    }
                }
            }

            if (report is not null) Notify(report);
            if (permit is { } granted) return granted;
            try
            {
                await changed.WaitAsync(wait, _time, cancellationToken);
            }
            catch (TimeoutException)
            {
                // The wait is over; look again.
            }
        }
    }

    /// <summary>Records what the endpoint made of a request sent under <paramref name="permit"/>.</summary>
    /// <param name="permit">The permit the request was sent under.</param>
    /// <param name="outcome">What its answer says.</param>
    /// <param name="retryAfter">The endpoint's Retry-After, for 429 and 503.</param>
    public void Report(EndpointPermit permit, EndpointOutcome outcome, TimeSpan? retryAfter = null)
    {
        EndpointHealth? report = null;
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var rateChanged = false;
            if (outcome is EndpointOutcome.Throttled or EndpointOutcome.Unavailable)
            {
                var current = _limit ?? MeasuredRate();
                var lowered = Math.Max(MinRatePerSecond, current / 2);
                if (_limit is null) _liftAbove = lowered * 4;
                _limit = lowered;
                var next = now + TimeSpan.FromSeconds(1 / lowered);
                if (next > _nextSlot) _nextSlot = next;
                if (retryAfter is { } delay && now + delay > _pausedUntil) _pausedUntil = now + delay;
                rateChanged = true;
            }
            else if (outcome == EndpointOutcome.Accepted && _limit is { } limit)
            {
                var raised = limit * (1 + RecoveryPerSuccess);
                _limit = raised >= _liftAbove ? null : raised;
                rateChanged = _limit is null || now - _lastRateReport >= RateReportInterval;
            }

            switch (outcome)
            {
                case EndpointOutcome.Accepted or EndpointOutcome.Refused:
                    _failures = 0;
                    if (permit.Probe) _probing = false;
                    if (_circuit != EndpointHealth.Closed) report = Transition(EndpointHealth.Closed, now);
                    break;
                case EndpointOutcome.Failed or EndpointOutcome.Unavailable:
                    _failures++;
                    if (permit.Probe)
                    {
                        _probing = false;
                        _openUntil = now + _breaker.CoolDown;
                        report = Transition(EndpointHealth.Open, now);
                    }
                    else if (_circuit == EndpointHealth.Closed && _breaker.FailureThreshold > 0 && _failures >= _breaker.FailureThreshold)
                    {
                        _openUntil = now + _breaker.CoolDown;
                        report = Transition(EndpointHealth.Open, now);
                    }
                    break;
                default:
                    // Throttled or neutral: the probe (if it was one) says nothing; let the next request probe.
                    if (permit.Probe)
                    {
                        _probing = false;
                        Signal();
                    }
                    break;
            }

            if (report is null && rateChanged)
            {
                _lastRateReport = now;
                report = Snapshot(now);
            }
        }
        if (report is not null) Notify(report);
    }

    /// <summary>Gives back a permit whose request was never answered because its caller cancelled it.</summary>
    public void Release(EndpointPermit permit) => Report(permit, EndpointOutcome.Neutral);

    private double MeasuredRate() => _meanIntervalSeconds > 0 ? 1 / _meanIntervalSeconds : 1;

    private EndpointHealth Transition(string circuit, DateTimeOffset now)
    {
        _circuit = circuit;
        _changedAt = now;
        Signal();
        return Snapshot(now);
    }

    private void Signal()
    {
        var changed = _changed;
        _changed = NewSignal();
        changed.TrySetResult();
    }

    private EndpointHealth Snapshot(DateTimeOffset now) => new(
        Endpoint,
        _circuit,
        _failures,
        _circuit == EndpointHealth.Open ? _openUntil : null,
        _limit is { } l ? Math.Round(l, 3) : null,
        _pausedUntil > now ? _pausedUntil : null,
        _changedAt);

    private void Notify(EndpointHealth health)
    {
        IDeliveryObserver[] observers;
        lock (_gate) observers = _observers.ToArray();
        foreach (var observer in observers)
            observer.EndpointHealthChanged(health);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private sealed class Subscription(EndpointGovernor governor, IDeliveryObserver observer) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            lock (governor._gate) governor._observers.Remove(observer);
        }
    }
}

/// <summary>
/// The node's endpoint states: one <see cref="EndpointGovernor"/> per (client, endpoint, breaker
/// settings), kept for the node's life so that a rebuilt stream finds its endpoint's breaker as it
/// was. Workflows of one client that send to one endpoint share it; other clients never do, even
/// for the same URL (a client's failures must not slow another client down).
/// </summary>
public sealed class EndpointGovernors
{
    private readonly ConcurrentDictionary<(string Client, string Endpoint, CircuitBreakerOptions Breaker), EndpointGovernor> _governors = new();
    private readonly TimeProvider _time;

    /// <summary>Creates an empty set over <paramref name="timeProvider"/> (the system clock by default).</summary>
    public EndpointGovernors(TimeProvider? timeProvider = null) => _time = timeProvider ?? TimeProvider.System;

    /// <summary>The state of <paramref name="url"/> for <paramref name="client"/>; the query and credentials of the URL do not count.</summary>
    public EndpointGovernor For(string client, Uri url, CircuitBreakerOptions breaker)
    {
        ArgumentNullException.ThrowIfNull(url);
        var endpoint = WebhookOptions.Display(url);
        return _governors.GetOrAdd((client, endpoint, breaker), key => new EndpointGovernor(key.Endpoint, key.Breaker, _time));
    }

    /// <summary>How many endpoints are tracked.</summary>
    public int Count => _governors.Count;
}
