namespace RetailStreaming.Workflows.Hosting;

/// <summary>
/// Resolves a secret reference from a definition (<c>env:NAME</c> or <c>file:/path</c>) at the
/// moment it is needed, so that secrets are never stored in the journal nor printed.
/// </summary>
public static class SecretReference
{
    /// <summary>The secret's value; throws <see cref="InvalidOperationException"/> naming the reference (never the value) when it cannot be read.</summary>
    public static string Resolve(string reference, string field)
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
            var path = reference[5..];
            try
            {
                return File.ReadAllText(path).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"{field}: secret file '{path}' cannot be read on this node: {e.Message}");
            }
        }
        throw new InvalidOperationException($"{field}: '{reference}' is not a secret reference (env:NAME or file:/path).");
    }
}
