using System.Text.Json;

namespace RetailStreaming.Workflows.Hosting;

/// <summary>
/// Resolves a secret reference from a definition or the node's configuration at the moment it is
/// needed, so that secrets are never stored in the journal nor printed:
/// <list type="bullet">
/// <item><c>env:NAME</c>: the environment variable NAME of the node process;</item>
/// <item><c>file:/absolute/path</c>: the whole content of that file, trimmed (Docker and Kubernetes secrets);</item>
/// <item><c>file:NAME</c>: the entry NAME of the node's secrets file (<c>RetailStreaming:Secrets:File</c>),
/// a JSON object of strings or <c>NAME=value</c> lines, which must not be readable by group or others.</item>
/// </list>
/// Errors name the reference and the field, never a value.
/// </summary>
public static class SecretReference
{
    /// <summary>The secret's value; throws <see cref="InvalidOperationException"/> naming the reference (never the value) when it cannot be read.</summary>
    /// <param name="reference">The reference.</param>
    /// <param name="field">Where the reference was found, for the error (e.g. <c>delivery.secretRef</c>).</param>
    /// <param name="secretsFile">The node's secrets file, for <c>file:NAME</c>; null when the node has none.</param>
    public static string Resolve(string reference, string field, string? secretsFile = null)
    {
        if (reference.StartsWith("env:", StringComparison.Ordinal))
        {
            var name = reference[4..];
            return Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
                ? value
                : throw new InvalidOperationException($"{field}: environment variable '{name}' is not set on this node.");
        }
        if (reference.StartsWith("file:", StringComparison.Ordinal))
        {
            var target = reference[5..];
            if (target.StartsWith('/') || Path.IsPathFullyQualified(target))
            {
                try
                {
                    return File.ReadAllText(target).Trim() is { Length: > 0 } value
                        ? value
                        : throw new InvalidOperationException($"{field}: secret file '{target}' is empty.");
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new InvalidOperationException($"{field}: secret file '{target}' cannot be read on this node: {e.Message}");
                }
            }
            return FromSecretsFile(target, field, secretsFile);
        }
        throw new InvalidOperationException($"{field}: not a secret reference (env:NAME, file:/path or file:NAME).");
    }

    /// <summary>
    /// Reads and checks the secrets file: it exists, is readable by its owner only, and parses.
    /// Throws <see cref="InvalidOperationException"/> saying what is wrong (never quoting a value).
    /// </summary>
    public static IReadOnlyDictionary<string, string> ReadSecretsFile(string path)
    {
        if (!File.Exists(path))
            throw new InvalidOperationException($"the secrets file '{path}' does not exist.");
        if (!OperatingSystem.IsWindows())
        {
            var mode = File.GetUnixFileMode(path);
            const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                                        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            if ((mode & others) != 0)
                throw new InvalidOperationException(
                    $"the secrets file '{path}' is accessible to group or others (mode {Convert.ToString((int)mode, 8)}); "
                    + $"it holds secrets: chmod 600 '{path}'.");
        }

        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"the secrets file '{path}' cannot be read: {e.Message}");
        }
        return text.TrimStart().StartsWith('{') ? ParseJson(text, path) : ParseLines(text, path);
    }

    private static string FromSecretsFile(string name, string field, string? secretsFile)
    {
        if (string.IsNullOrWhiteSpace(secretsFile))
            throw new InvalidOperationException(
                $"{field}: 'file:{name}' names an entry of the node's secrets file, but this node has none (set RetailStreaming:Secrets:File).");
        IReadOnlyDictionary<string, string> secrets;
        try
        {
            secrets = ReadSecretsFile(secretsFile);
        }
        catch (InvalidOperationException e)
        {
            throw new InvalidOperationException($"{field}: {e.Message}");
        }
        return secrets.TryGetValue(name, out var value) && value.Length > 0
            ? value
            : throw new InvalidOperationException($"{field}: secret '{name}' is not in the node's secrets file '{secretsFile}'.");
    }

    private static Dictionary<string, string> ParseJson(string text, string path)
    {
        var secrets = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidOperationException($"the secrets file '{path}' must hold a JSON object of names to strings.");
            foreach (var property in document.RootElement.EnumerateObject())
            {
                if (property.Value.ValueKind != JsonValueKind.String)
                    throw new InvalidOperationException($"the secrets file '{path}': the value of '{property.Name}' is not a string.");
                secrets[property.Name] = property.Value.GetString()!;
            }
        }
        catch (JsonException e)
        {
            // JsonException messages quote positions, not content.
            throw new InvalidOperationException($"the secrets file '{path}' is not valid JSON (line {e.LineNumber + 1}).");
        }
        return secrets;
    }

    private static Dictionary<string, string> ParseLines(string text, string path)
    {
        var secrets = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var equals = line.IndexOf('=');
            if (equals <= 0)
                throw new InvalidOperationException($"the secrets file '{path}', line {i + 1}: expected NAME=value (or JSON).");
            var value = line[(equals + 1)..].Trim();
            if (value.Length >= 2 && (value[0] == '"' && value[^1] == '"' || value[0] == '\'' && value[^1] == '\''))
                value = value[1..^1];
            secrets[line[..equals].Trim()] = value;
        }
        return secrets;
    }
}
