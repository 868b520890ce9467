using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using RetailStreaming.Integration.Tests.Harness;
using RetailStreaming.Node;
using RetailStreaming.Node.Admin;
using RetailStreaming.Workflows.Protocol;

namespace RetailStreaming.Benchmarks;

public static partial class PostgresBenchmark
{
    /// <summary>The node the benchmark drives: its own process as shipped (the default), or inside the benchmark's.</summary>
    private interface IPlatform : IAsyncDisposable
    {
        Task ApplyAsync(string workflowId, string yaml);

        /// <summary>Pauses the workflow (its replication connection closes); the node stays up, its code warm.</summary>
        Task PauseAsync(string workflowId);

        /// <summary>Resumes the workflow: it drains what the WAL holds past its checkpoint.</summary>
        Task ResumeAsync(string workflowId);

        Task StopAsync();
    }

    /// <summary>
    /// The node as it is shipped and run: <c>RetailStreaming.Node.dll run</c> in a process of its own,
    /// with its own runtime settings (RetailStreaming.Node.runtimeconfig.json: tiered compilation off),
    /// its own GC heap and thread pool. Its CPU time is added to this process's in every CPU figure
    /// (<see cref="Span.Now"/>) while it runs, so the figures still hold the receiver's share too.
    /// </summary>
    private sealed class NodeProcessPlatform : IPlatform
    {
        private readonly NodeProcess _node;
        private readonly Process _process;

        private NodeProcessPlatform(NodeProcess node)
        {
            _node = node;
            _process = Process.GetProcessById(node.ProcessId ?? throw new InvalidOperationException("the node process is not running"));
            Span.OtherProcess = Cpu;
        }

        // The node's CPU is counted while its workflow runs; while it is paused the bare consumers run,
        // and the idle node's CPU is not theirs.
        public Task PauseAsync(string workflowId) => LifecycleAsync(workflowId, "pause", counting: false);

        public Task ResumeAsync(string workflowId) => LifecycleAsync(workflowId, "resume", counting: true);

        private async Task LifecycleAsync(string workflowId, string verb, bool counting)
        {
            using var response = await _node.Admin.PostAsync($"/api/workflows/{Uri.EscapeDataString(workflowId)}/{verb}", null);
            if (!response.IsSuccessStatusCode)
                throw new InvalidOperationException($"POST {verb} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}\n{_node.OutputTail()}");
            Span.OtherProcess = counting ? Cpu : null;
        }

        /// <param name="dataDirectory">The node's data directory (the same for both starts: the second resumes the workflow).</param>
        /// <param name="environment">Extra environment variables of the node only (<c>--node-env KEY=VALUE</c>, e.g. a GC setting to compare).</param>
        public static async Task<IPlatform> StartAsync(string dataDirectory, IReadOnlyDictionary<string, string> environment)
        {
            var variables = new Dictionary<string, string>(environment) { ["RetailStreaming__Logging__MinimumLevel"] = "Warning" };
            var node = new NodeProcess(dataDirectory, variables, name: "bench-node");
            try
            {
                await node.StartAsync();
                return new NodeProcessPlatform(node);
            }
            catch
            {
                await node.DisposeAsync();
                throw;
            }
        }

        private TimeSpan Cpu()
        {
            lock (_process)
            {
                try
                {
                    _process.Refresh();
                    return _process.TotalProcessorTime;
                }
                catch (InvalidOperationException)
                {
                    return TimeSpan.Zero; // it has exited: the measurement that needed it is over
                }
            }
        }

        public async Task ApplyAsync(string workflowId, string yaml)
        {
            for (var attempt = 1; ; attempt++)
            {
                var (status, body) = await _node.ApplyWorkflowAsync(yaml, "bench.yaml");
                if (status is HttpStatusCode.OK or HttpStatusCode.Created) return;
                // 504: the one-node cluster is still forming.
                if (status != HttpStatusCode.GatewayTimeout || attempt >= 5)
                    throw new InvalidOperationException($"The benchmark workflow was not applied: {(int)status} {body}\n{_node.OutputTail()}");
            }
        }

        public async Task StopAsync()
        {
            Span.OtherProcess = null;
            var code = await _node.StopAsync(TimeSpan.FromSeconds(60));
            if (code != 0) Console.Error.WriteLine($"the node exited with code {code}\n{_node.OutputTail(40)}");
        }

        public async ValueTask DisposeAsync()
        {
            Span.OtherProcess = null;
            await _node.DisposeAsync();
            _process.Dispose();
        }
    }

    /// <summary>The node inside the benchmark's process (<c>--node in-process</c>): its spans can be listened to (<c>--stages</c>), its allocations counted; it runs on the benchmark's runtime settings.</summary>
    private sealed class InProcessPlatform(WebApplication app) : IPlatform
    {
        public static async Task<IPlatform> StartAsync(NodeOptions node)
        {
            var app = await NodeHost.BuildAsync(node);
            await app.StartAsync();
            return new InProcessPlatform(app);
        }

        public async Task ApplyAsync(string workflowId, string yaml)
        {
            var queries = app.Services.GetRequiredService<WorkflowQueries>();
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var reply = await queries.ApplyAsync(workflowId, yaml, "bench.yaml", CancellationToken.None);
                    if (reply is WorkflowReplies.DefinitionApplied or WorkflowReplies.DefinitionUnchanged) return;
                    throw new InvalidOperationException($"The benchmark workflow was not applied: {reply}");
                }
                catch (Akka.Actor.AskTimeoutException) when (attempt < 5)
                {
                    // The one-node cluster is still forming.
                }
            }
        }

        public Task PauseAsync(string workflowId) => LifecycleAsync(new WorkflowCommands.Pause(workflowId));

        public Task ResumeAsync(string workflowId) => LifecycleAsync(new WorkflowCommands.Resume(workflowId));

        private async Task LifecycleAsync(IWithWorkflowId command)
        {
            var reply = await app.Services.GetRequiredService<WorkflowQueries>().AskAsync(command, CancellationToken.None);
            if (reply is not (WorkflowReplies.Paused or WorkflowReplies.Resumed))
                throw new InvalidOperationException($"{command.GetType().Name} was answered {reply}");
        }

        public Task StopAsync() => app.StopAsync();

        public ValueTask DisposeAsync() => app.DisposeAsync();
    }
}
