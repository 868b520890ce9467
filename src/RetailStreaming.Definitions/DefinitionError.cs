namespace RetailStreaming.Definitions;

/// <summary>One thing wrong with a definition file, with where it is.</summary>
/// <param name="File">The file name (or "&lt;input&gt;" when read from text).</param>
/// <param name="Line">1-based line.</param>
/// <param name="Column">1-based column.</param>
/// <param name="Field">The dotted path of the field, for example <c>delivery.batching.maxRecords</c>.</param>
/// <param name="Message">What is wrong and what is expected.</param>
public sealed record DefinitionError(string File, int Line, int Column, string Field, string Message)
{
    /// <summary><c>file:line:column: field: message</c>, as compilers print errors.</summary>
    public override string ToString() => $"{File}:{Line}:{Column}: {Field}: {Message}";
}

/// <summary>A definition file was rejected; nothing of it was applied.</summary>
public sealed class InvalidDefinitionException(IReadOnlyList<DefinitionError> errors)
    : Exception("Invalid workflow definition:\n  " + string.Join("\n  ", errors))
{
    /// <summary>Every error found, in file order.</summary>
    public IReadOnlyList<DefinitionError> Errors { get; } = errors;
}
