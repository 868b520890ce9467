using Microsoft.Extensions.DependencyInjection.Extensions;
using RetailStreaming.Node.Admin;
using RetailStreaming.Store;
using RetailStreaming.Workflows.Health;

namespace RetailStreaming.Node.Health;

/// <summary>Wiring of health, alerts and SLA beside what it wires.</summary>
public static class HealthServices
{
    /// <summary>The journal probe, the alert sink (log and webhook), the alert engine, the SLA recorder and reports, and the monitor.</summary>
    public static IServiceCollection AddNodeHealth(this IServiceCollection services, NodeOptions options, string journalConnectionString)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(new JournalProbe(options.Persistence.IsPostgres, journalConnectionString));
        services.AddSingleton<IAlertSink>(new AlertNotifier(options.Alerts));
        services.AddSingleton(sp => new AlertEngine(sp.GetRequiredService<PlatformStore>(), sp.GetRequiredService<IAlertSink>(),
            options.Alerts, options.Sla, HealthMonitor.NodeName(options), sp.GetService<TimeProvider>()));
        services.AddSingleton(sp => new SlaRecorder(sp.GetRequiredService<PlatformStore>().Sla, options.Alerts.EvaluationInterval,
            sp.GetService<TimeProvider>()));
        services.AddSingleton(sp => new SlaReports(sp.GetRequiredService<PlatformStore>(), options.Sla, sp.GetService<TimeProvider>()));
        services.AddSingleton(sp => new HealthMonitor(sp.GetRequiredService<WorkflowQueries>(), sp.GetRequiredService<AlertEngine>(),
            sp.GetRequiredService<SlaRecorder>(), sp.GetRequiredService<IAlertSink>(), sp,
            options, sp.GetService<TimeProvider>()));
        services.AddHostedService(sp => sp.GetRequiredService<HealthMonitor>());
        return services;
    }
}
