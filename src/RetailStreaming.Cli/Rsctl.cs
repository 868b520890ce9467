using RetailStreaming.Cli.Commands;

namespace RetailStreaming.Cli;

/// <summary>rsctl's entry point: parses the command line, runs the verb, turns failures into one line and an exit code.</summary>
public static class Rsctl
{
    /// <summary>The overview <c>rsctl help</c> prints.</summary>
    public const string Help = """
        rsctl: operate a RetailStreaming cluster through a node's admin API.

        usage: rsctl <group> <verb> [arguments] [--node URL] [--token TOKEN] [--context NAME] [--json]

          cluster show                      members: address, roles, status, reachability, version
          cluster leave|down|join <address> (akka.tcp://retailstreaming@host:port or host:port)
          cluster down-unreachable          down every member the cluster sees unreachable
          cluster tail                      membership events as they happen, until Ctrl+C
          sharding regions                  shard regions and the nodes hosting them
          sharding stats                    shards and entities per node
          workflow list                     every workflow with its state and figures
          workflow show <id>                one workflow in detail
          workflow apply -f <file>          validate and apply a definition (errors with line numbers)
          workflow diff -f <file> [<id>]    unified diff: the current version's YAML vs the file
          workflow history <id>             definition versions (applied, transform, position)
          workflow pause|resume|restart <id>
          workflow rollback <id> [--to N]   apply version N (default: the previous one) as a new version
          workflow delete <id>              drain, stop for good, remove the capture (slot, triggers); history stays
          workflow replay <id> --from <position|earliest>
                                            deliver again every change after the position (same keys)
          workflow snapshot <id> [--table T]
                                            read a table (default: every captured table) again, whole
          workflow promote <id> --from <context> --to <context> [--dry-run]
                                            apply on one cluster exactly what runs on another
          dlq list <id> [--after ID] [--limit N]
          dlq show <id> <entry>             a dead letter: input, reason, every attempt, redrive
          dlq redrive <id> (<entry>... | --all | --filter stage=S,table=T,from=ID,to=ID) [--force] [--limit N]
                                            send again (original idempotency keys); superseded ones need --force
          token issue --client <id> | --operator [--description TEXT]
          token list
          token revoke <token-id>
          transform test <project|.csproj|.nupkg> --fixtures <dir> [--type T] [--update]
                                            pack, load as a node does, compare with the expected files
          transform publish <file.nupkg>    into the cluster's package store (a version is immutable)
          transform list [<package-id>]     published versions
          regress [--workflow <id>]         run every active workflow's recorded samples through the version it
                                            runs, on this build; compare with the recorded records
          regress --workflow <id> --export <dir>
                                            write its recorded samples as fixture files (<dir>/<id>/)
          regress --samples <dir> --package <project|.csproj|.nupkg> [--type T] [--update]
                                            no node: run kept sample files through a package (CI)
          sla report [--client ID] [--from TIME] [--to TIME]
                                            per workflow uptime, paused time, p50/p99 latency, volume/day vs target
          context add <name> --node URL [--token TOKEN]
          context use <name> | list | remove <name>

        The node: --node and --token (or RS_NODE and RS_TOKEN), or a context (--context NAME, else
        the one in use) from ~/.config/rsctl/config.json (RSCTL_CONFIG elsewhere).
        --json prints the API's answer for scripts.
        Exit codes: 0 done, 1 failed, 2 usage, 3 not found or not allowed.
        """;

    /// <summary>Runs one command line; returns its exit code.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CliEnvironment env)
    {
        try
        {
            var line = CommandLine.Parse(args);
            if (line.Words.Count == 0 || line.Words[0] == "help")
            {
                if (line.Words.Count == 0 && !line.Flag("help"))
                {
                    env.Error.WriteLine(Help);
                    return ExitCodes.Usage;
                }
                env.Out.WriteLine(Help);
                return ExitCodes.Ok;
            }
            if (line.Flag("help"))
            {
                env.Out.WriteLine(Help);
                return ExitCodes.Ok;
            }

            using var session = new Session(line, env);
            return line.Words[0] switch
            {
                "cluster" => await ClusterCommands.RunAsync(session),
                "sharding" => await ShardingCommands.RunAsync(session),
                "workflow" or "workflows" or "wf" => await WorkflowCommands.RunAsync(session),
                "dlq" => await DeadLetterCommands.RunAsync(session),
                "token" or "tokens" => await TokenCommands.RunAsync(session),
                "context" => ContextCommands.Run(session),
                "transform" or "transforms" => await TransformCommands.RunAsync(session),
                "sla" => await SlaCommands.RunAsync(session),
                "regress" => await RegressCommands.RunAsync(session),
                var other => throw CliException.Usage($"unknown command group '{other}'; run rsctl help"),
            };
        }
        catch (CliException e)
        {
            env.Error.WriteLine($"rsctl: {e.Message}");
            return e.ExitCode;
        }
    }
}

/// <summary>One command's parsed line, environment and (on first use) its admin API client.</summary>
public sealed class Session(CommandLine line, CliEnvironment env) : IDisposable
{
    private AdminClient? _client;

    /// <summary>The command line.</summary>
    public CommandLine Line { get; } = line;

    /// <summary>Output streams, variables, files.</summary>
    public CliEnvironment Env { get; } = env;

    /// <summary>Standard output.</summary>
    public TextWriter Out => Env.Out;

    /// <summary>Whether <c>--json</c> asks for the API's JSON instead of a table.</summary>
    public bool Json => Line.Flag("json");

    /// <summary>
    /// The client of the node this command talks to: <c>--node</c> (or RS_NODE) with <c>--token</c>
    /// (or RS_TOKEN); else the context named by <c>--context</c>, else the one in use, whose token
    /// <c>--token</c> overrides. A token is never sent to a node it was not given for.
    /// </summary>
    public AdminClient Client
    {
        get
        {
            if (_client is not null) return _client;
            var node = Line.Option("node") ?? NonEmpty(Env.Variable("RS_NODE"));
            var token = Line.Option("token");
            var contextName = Line.Option("context");
            if (node is null)
            {
                var file = ContextFile.Load(Env.ConfigPath);
                var name = contextName ?? file.Current;
                if (name is null)
                    throw CliException.Usage("no node given; pass --node http://host:port (and --token or RS_TOKEN), or add a context: rsctl context add NAME --node URL --token TOKEN");
                if (!file.Contexts.TryGetValue(name, out var context))
                    throw CliException.Usage($"no context '{name}' in {Env.ConfigPath}; see rsctl context list");
                node = context.Node;
                token ??= context.Token;
            }
            token ??= NonEmpty(Env.Variable("RS_TOKEN"));
            if (!Uri.TryCreate(node, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                throw CliException.Usage($"'{node}' is not a node URL; use http://host:port");
            _client = new AdminClient(uri, token, Env.Handler);
            return _client;
        }
    }

    /// <summary>Reads the connection options so that they never count as unknown for a command that did not connect.</summary>
    public void AcceptConnectionOptions()
    {
        Line.Option("node");
        Line.Option("token");
        Line.Option("context");
        Line.Option("json");
    }

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    /// <inheritdoc />
    public void Dispose() => _client?.Dispose();
}
