using RetailStreaming.Store;
using RetailStreaming.Workflows.Regress;
using Serilog.Extensions.Logging;

namespace RetailStreaming.Node.Regress;

/// <summary>
/// Writes the regression samples the node's workflows offered, every <c>Regress:FlushInterval</c>, and
/// once more when the node stops. Samples are best effort: a failed write is logged and dropped, and
/// whatever workflows offer after the last flush of a stopping node is lost.
/// </summary>
public sealed class RegressSampleFlusher(RegressSampleRecorder recorder) : BackgroundService
{
    /// <summary>Throws, naming the key, when a setting is out of range.</summary>
    public static void Validate(RegressSettings settings)
    {
        if (settings.SampleSize < 0)
            throw new InvalidOperationException($"RetailStreaming:Regress:SampleSize must be 0 (record nothing) or positive; got {settings.SampleSize}.");
        if (settings.SamplesPerFlush <= 0)
            throw new InvalidOperationException($"RetailStreaming:Regress:SamplesPerFlush must be positive; got {settings.SamplesPerFlush}.");
        if (settings.FlushInterval <= TimeSpan.Zero)
            throw new InvalidOperationException($"RetailStreaming:Regress:FlushInterval must be positive (e.g. 00:00:30); got {settings.FlushInterval}.");
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (recorder.Settings.SampleSize == 0) return;
        using var timer = new PeriodicTimer(recorder.Settings.FlushInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
                await recorder.FlushAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        using var last = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await recorder.FlushAsync(last.Token);
    }
}

/// <summary>The wiring of the node's regression sample recorder.</summary>
public static class RegressSampleHosting
{
    /// <summary>Registers the recorder (returned, for the actor system's extension) and its flush loop.</summary>
    public static RegressSampleRecorder AddRegressSamples(this IServiceCollection services, PlatformStore store, RegressSettings settings)
    {
        var log = new SerilogLoggerFactory().CreateLogger("RetailStreaming.Regress");
        var recorder = new RegressSampleRecorder(store.RegressSamples, settings, log);
        services.AddSingleton(recorder);
        services.AddHostedService(sp => new RegressSampleFlusher(sp.GetRequiredService<RegressSampleRecorder>()));
        return recorder;
    }
}
