using System.Text.Json;
using RetailStreaming.Cli.Output;

namespace RetailStreaming.Cli.Commands;

/// <summary><c>rsctl context add | use | list | remove</c>: named nodes in the contexts file.</summary>
internal static class ContextCommands
{
    public static int Run(Session s)
    {
        var verb = s.Line.Word(1, "a verb", "rsctl context add|use|list|remove");
        var path = s.Env.ConfigPath;
        var file = ContextFile.Load(path);
        switch (verb)
        {
            case "add":
            {
                const string usage = "rsctl context add <name> --node http://host:port [--token TOKEN]";
                var name = s.Line.Word(2, "the context's name", usage);
                var node = s.Line.Option("node") ?? throw CliException.Usage($"missing --node; usage: {usage}");
                var token = s.Line.Option("token");
                s.Line.RejectUnknown(3, usage);
                if (!Uri.TryCreate(node, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
                    throw CliException.Usage($"'{node}' is not a node URL; use http://host:port");
                var existed = file.Contexts.ContainsKey(name);
                file.Contexts[name] = new CliContext(node, token);
                file.Current ??= name;
                file.Save(path);
                s.Out.WriteLine($"context {name} {(existed ? "updated" : "added")}: {node}{(file.Current == name ? " (in use)" : $"; use it with rsctl context use {name}")}");
                return ExitCodes.Ok;
            }
            case "use":
            {
                const string usage = "rsctl context use <name>";
                var name = s.Line.Word(2, "the context's name", usage);
                s.Line.RejectUnknown(3, usage);
                if (!file.Contexts.ContainsKey(name))
                    throw new CliException(ExitCodes.NotFoundOrNotAllowed, $"no context '{name}'; add it with rsctl context add {name} --node URL");
                file.Current = name;
                file.Save(path);
                s.Out.WriteLine($"using context {name}: {file.Contexts[name].Node}");
                return ExitCodes.Ok;
            }
            case "remove":
            {
                const string usage = "rsctl context remove <name>";
                var name = s.Line.Word(2, "the context's name", usage);
                s.Line.RejectUnknown(3, usage);
                if (!file.Contexts.Remove(name))
                    throw new CliException(ExitCodes.NotFoundOrNotAllowed, $"no context '{name}'; see rsctl context list");
                if (file.Current == name) file.Current = null;
                file.Save(path);
                s.Out.WriteLine($"context {name} removed");
                return ExitCodes.Ok;
            }
            case "list":
            {
                var json = s.Line.Flag("json");
                s.Line.RejectUnknown(2, "rsctl context list [--json]");
                if (json)
                {
                    // Never the tokens themselves.
                    var view = file.Contexts.Select(c => new { name = c.Key, node = c.Value.Node, hasToken = c.Value.Token is not null, current = c.Key == file.Current });
                    Json.Write(s.Out, JsonSerializer.SerializeToElement(view));
                    return ExitCodes.Ok;
                }
                var table = new Table("CONTEXT", "NODE", "TOKEN");
                foreach (var (name, context) in file.Contexts)
                    table.Add(name + (name == file.Current ? " *" : ""), context.Node, context.Token is null ? "-" : "set");
                table.Write(s.Out, $"Count: {table.Count} context(s); * in use");
                return ExitCodes.Ok;
            }
            default:
                throw CliException.Usage($"unknown verb 'context {verb}'; use add, use, list or remove");
        }
    }
}
