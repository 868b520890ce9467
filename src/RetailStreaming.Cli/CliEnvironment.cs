namespace RetailStreaming.Cli;

/// <summary>
/// What rsctl reads from and writes to outside its arguments: its output streams, environment
/// variables, the working directory and the HTTP handler. Tests pass their own.
/// </summary>
/// <param name="Out">Standard output (tables, JSON).</param>
/// <param name="Error">Standard error (one-line errors, validation errors).</param>
/// <param name="Variable">Reads an environment variable.</param>
/// <param name="WorkingDirectory">Where relative file paths start.</param>
/// <param name="Handler">The HTTP handler; a new SocketsHttpHandler when null.</param>
/// <param name="Interrupted">Ctrl+C: ends a command that runs until stopped (<c>cluster tail</c>).</param>
public sealed record CliEnvironment(
    TextWriter Out,
    TextWriter Error,
    Func<string, string?> Variable,
    string WorkingDirectory,
    HttpMessageHandler? Handler = null,
    CancellationToken Interrupted = default)
{
    /// <summary>The process's console, environment and working directory; Ctrl+C cancels <see cref="Interrupted"/>.</summary>
    public static CliEnvironment FromProcess()
    {
        var interrupted = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            // The first Ctrl+C ends the command cleanly; a second one kills.
            if (interrupted.IsCancellationRequested) return;
            e.Cancel = true;
            interrupted.Cancel();
        };
        return new(Console.Out, Console.Error, Environment.GetEnvironmentVariable, Directory.GetCurrentDirectory(), null, interrupted.Token);
    }

    /// <summary>
    /// The contexts file: <c>RSCTL_CONFIG</c>, else <c>$XDG_CONFIG_HOME/rsctl/config.json</c>, else
    /// <c>~/.config/rsctl/config.json</c>.
    /// </summary>
    public string ConfigPath =>
        NonEmpty(Variable("RSCTL_CONFIG"))
        ?? Path.Combine(
            NonEmpty(Variable("XDG_CONFIG_HOME"))
            ?? Path.Combine(NonEmpty(Variable("HOME")) ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config"),
            "rsctl", "config.json");

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
}
