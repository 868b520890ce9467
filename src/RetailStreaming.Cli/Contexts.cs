using System.Text.Json;
using System.Text.Json.Serialization;

namespace RetailStreaming.Cli;

/// <summary>A named node (and its token), so that an operator switches between clusters by name.</summary>
/// <param name="Node">The admin API's base URL.</param>
/// <param name="Token">The bearer token, or null to use <c>--token</c> or <c>RS_TOKEN</c>.</param>
public sealed record CliContext(string Node, string? Token);

/// <summary>The contexts file (<see cref="CliEnvironment.ConfigPath"/>): every context and the one in use.</summary>
public sealed class ContextFile
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The context used when none is named.</summary>
    public string? Current { get; set; }

    /// <summary>Every context by name.</summary>
    public SortedDictionary<string, CliContext> Contexts { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Reads the file; an empty set of contexts when it does not exist.</summary>
    public static ContextFile Load(string path)
    {
        if (!File.Exists(path)) return new ContextFile();
        try
        {
            var file = JsonSerializer.Deserialize<ContextFile>(File.ReadAllText(path), Json) ?? new ContextFile();
            file.Contexts = new SortedDictionary<string, CliContext>(file.Contexts ?? new(), StringComparer.Ordinal);
            return file;
        }
        catch (JsonException e)
        {
            throw new CliException(ExitCodes.Failed, $"{path} is not a valid rsctl config ({e.Message}); fix or delete it");
        }
    }

    /// <summary>Writes the file, readable by its owner only (it may hold tokens).</summary>
    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temp, options))
            JsonSerializer.Serialize(stream, this, Json);
        File.Move(temp, path, overwrite: true);
    }
}
