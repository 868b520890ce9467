using System.Diagnostics.CodeAnalysis;

namespace RetailStreaming.Definitions;

/// <summary>
/// Reads and validates workflow definition files (YAML). Every error is reported at once, each with
/// its file, line, column and dotted field path; a definition is returned only when there is none.
/// </summary>
public static class WorkflowDefinitionReader
{
    /// <summary>The file name used in errors when the text does not come from a file.</summary>
    public const string DefaultFileName = "<input>";

    /// <summary>Parses and validates YAML text; throws <see cref="InvalidDefinitionException"/> listing every error.</summary>
    /// <param name="yaml">The definition text; kept as <see cref="WorkflowDefinition.Text"/>.</param>
    /// <param name="fileName">The name errors point at.</param>
    /// <returns>The validated definition.</returns>
    /// <exception cref="InvalidDefinitionException">The text is not a valid definition; its errors are in file order.</exception>
    public static WorkflowDefinition Parse(string yaml, string fileName = DefaultFileName) =>
        TryParse(yaml, fileName, out var definition, out var errors)
            ? definition
            : throw new InvalidDefinitionException(errors);

    /// <summary>Parses and validates YAML text without throwing on an invalid definition.</summary>
    /// <param name="yaml">The definition text.</param>
    /// <param name="fileName">The name errors point at.</param>
    /// <param name="definition">The definition when valid, else null.</param>
    /// <param name="errors">Every error, in file order; empty when valid.</param>
    /// <returns>Whether the definition is valid.</returns>
    public static bool TryParse(
        string yaml,
        string fileName,
        [NotNullWhen(true)] out WorkflowDefinition? definition,
        out IReadOnlyList<DefinitionError> errors)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(fileName);
        var validator = new DefinitionValidator(fileName);
        definition = validator.Validate(yaml);
        errors = validator.Errors;
        return definition is not null && errors.Count == 0;
    }

    /// <summary>Validates YAML text and returns its errors (empty when it is a valid definition), as <c>rsctl workflow apply --dry-run</c> needs.</summary>
    /// <param name="yaml">The definition text.</param>
    /// <param name="fileName">The name errors point at.</param>
    /// <returns>Every error, in file order.</returns>
    public static IReadOnlyList<DefinitionError> Validate(string yaml, string fileName = DefaultFileName)
    {
        TryParse(yaml, fileName, out _, out var errors);
        return errors;
    }

    /// <summary>Reads, parses and validates a definition file; errors name <paramref name="path"/> as given.</summary>
    /// <param name="path">The file to read (UTF-8, with or without a byte order mark).</param>
    /// <returns>The validated definition.</returns>
    /// <exception cref="InvalidDefinitionException">The file is not a valid definition.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static WorkflowDefinition ReadFile(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>Reads, parses and validates a definition file asynchronously.</summary>
    /// <param name="path">The file to read (UTF-8, with or without a byte order mark).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The validated definition.</returns>
    /// <exception cref="InvalidDefinitionException">The file is not a valid definition.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static async Task<WorkflowDefinition> ReadFileAsync(string path, CancellationToken cancellationToken = default) =>
        Parse(await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), path);
}
