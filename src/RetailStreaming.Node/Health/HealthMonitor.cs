using Akka.Actor;
using RetailStreaming.Node.Admin;
using RetailStreaming.Workflows.Health;
using RetailStreaming.Workflows.Protocol;
using Serilog;
using ILogger = Serilog.ILogger;

namespace RetailStreaming.Node.Health;

/// <summary>
/// Every <see cref="AlertsSection.EvaluationInterval"/>, reads the status of the workflows this node
/// hosts, evaluates the alert rules on them and adds to their SLA history.
/// One per node, judging only its own workflows, rather than a cluster singleton: the work grows
/// with the node's share, a node cut off from the others still alerts on what it runs, and the
/// de-duplication lives in the platform store (one open firing per workflow and rule), so a workflow
/// that moves between nodes is neither notified twice nor left firing. It also forwards the
/// <see cref="WorkflowAlertRaised"/> events actors publish on this node's event stream.
/// </summary>
public sealed class HealthMonitor(WorkflowQueries queries, AlertEngine engine, SlaRecorder recorder, IAlertSink sink,
    IServiceProvider services, NodeOptions options, TimeProvider? time = null, ILogger? logger = null) : BackgroundService
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly string _node = NodeName(options);

    private ILogger Log => (logger ?? Serilog.Log.Logger).ForContext("SourceContext", "RetailStreaming.Alerts");

    /// <summary>The node name workflow statuses carry (<see cref="WorkflowStatus.Node"/>).</summary>
    public static string NodeName(NodeOptions options) => $"{options.Node.Hostname}:{options.Node.Port}";

    /// <summary>One evaluation: the hosted workflows' statuses, alerts, SLA history.</summary>
    public async Task EvaluateOnceAsync(CancellationToken cancellationToken)
    {
        var views = await queries.ListAsync(null, cancellationToken).ConfigureAwait(false);
        var hosted = views.Where(v => v.Status is { } s && s.Node == _node).Select(v => v.Status!).ToList();
        await recorder.RecordAsync(hosted, cancellationToken).ConfigureAwait(false);
        await engine.EvaluateAsync(hosted, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Alerts.EvaluationInterval, _time);
        ActorSystem? system = null;
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            // The actor system starts after this service (Akka.Hosting's own hosted service).
            if (system is null)
            {
                system = services.GetService<ActorSystem>();
                if (system is null) continue;
                var forwarder = system.ActorOf(Props.Create(() => new AlertEventForwarder(sink, _node)), "alert-events");
                system.EventStream.Subscribe(forwarder, typeof(WorkflowAlertRaised));
            }
            // Nothing to judge before this node is an Up member: its workflows are not there yet.
            if (Akka.Cluster.Cluster.Get(system).SelfMember.Status != Akka.Cluster.MemberStatus.Up) continue;
            try
            {
                await EvaluateOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Log.Warning(e, "Health evaluation failed; trying again in {Interval}", options.Alerts.EvaluationInterval);
            }
        }
    }

    private sealed class AlertEventForwarder : ReceiveActor
    {
        public AlertEventForwarder(IAlertSink sink, string node) =>
            ReceiveAsync<WorkflowAlertRaised>(e => sink.NotifyAsync(new AlertNotification(AlertNotification.Event, e.WorkflowId, e.ClientId,
                e.Rule, null, null, e.Detail, e.At, null, node)));
    }
}
