namespace RetailStreaming.Definitions;

/// <summary>Reads and validates workflow definition files.</summary>
public static class WorkflowDefinitionReader
{
    /// <summary>Parses and validates YAML text; throws <see cref="InvalidDefinitionException"/> listing every error.</summary>
    public static WorkflowDefinition Parse(string yaml, string fileName = "<input>") =>
        throw new NotImplementedException("being written");
}
