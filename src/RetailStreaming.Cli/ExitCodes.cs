namespace RetailStreaming.Cli;

/// <summary>What rsctl's exit code means (scripts rely on it).</summary>
public static class ExitCodes
{
    /// <summary>Done.</summary>
    public const int Ok = 0;

    /// <summary>The command ran and failed (the node refused the change, is unreachable, or answered an error).</summary>
    public const int Failed = 1;

    /// <summary>The command line is wrong (unknown verb, missing argument, no node given).</summary>
    public const int Usage = 2;

    /// <summary>Not found or not allowed (404, or the token is missing, unknown, revoked or lacks the scope).</summary>
    public const int NotFoundOrNotAllowed = 3;
}

/// <summary>Ends a command with a one-line message (saying what to do) and an exit code.</summary>
public sealed class CliException(int exitCode, string message) : Exception(message)
{
    /// <summary>The exit code to return.</summary>
    public int ExitCode { get; } = exitCode;

    /// <summary>A usage error.</summary>
    public static CliException Usage(string message) => new(ExitCodes.Usage, message);
}
