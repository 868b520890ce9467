using System.Buffers.Binary;
using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Text;
using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost.Tests;

/// <summary>The packages built with the tests, and helpers to build others at test time.</summary>
internal static class TestPackages
{
    public const string SampleId = "RetailStreaming.Samples.Retail";
    public const string SampleType = "RetailStreaming.Samples.Retail.RetailTransform";
    public const string BadId = "RetailStreaming.TransformHost.Tests.BadTransforms";
    public const string BadNamespace = "RetailStreaming.TransformHost.Tests.BadTransforms";

    /// <summary>Where the test build packs the sample and the bad transforms.</summary>
    public static string Feed { get; } = Path.Combine(AppContext.BaseDirectory, "transform-packages");

    /// <summary>A store over the built packages with a fresh cache folder.</summary>
    public static TransformPackageStore Store(TempFolder temp) => new(Feed, temp.Sub("cache"));

    /// <summary>The bytes of one file of a package of the feed.</summary>
    public static byte[] ReadEntry(string packageId, string entryName)
    {
        using var zip = ZipFile.OpenRead(Path.Combine(Feed, $"{packageId}.1.0.0.nupkg"));
        using var stream = zip.GetEntry(entryName)!.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>
    /// A copy of <paramref name="assembly"/> whose reference to the SDK claims another version, as if
    /// it had been built against that SDK (patches the AssemblyRef row in place).
    /// </summary>
    public static byte[] WithSdkReference(byte[] assembly, ushort major, ushort minor)
    {
        var copy = (byte[])assembly.Clone();
        using var pe = new PEReader(new MemoryStream(assembly));
        var metadata = pe.GetMetadataReader();
        var table = pe.PEHeaders.MetadataStartOffset + metadata.GetTableMetadataOffset(TableIndex.AssemblyRef);
        var rowSize = metadata.GetTableRowSize(TableIndex.AssemblyRef);
        var patched = false;
        foreach (var handle in metadata.AssemblyReferences)
        {
            if (metadata.GetString(metadata.GetAssemblyReference(handle).Name) != "RetailStreaming.Transforms") continue;
            // The row starts with MajorVersion, MinorVersion (two bytes each).
            var row = table + (MetadataTokens.GetRowNumber(handle) - 1) * rowSize;
            BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan(row), major);
            BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan(row + 2), minor);
            patched = true;
        }
        return patched ? copy : throw new InvalidOperationException("The assembly does not reference the SDK.");
    }

    /// <summary>Writes a .nupkg with a generated .nuspec and the given files.</summary>
    public static string WriteNupkg(string folder, string id, string version, IEnumerable<(string Name, byte[] Content)> files,
        string dependencies = "", string? fileName = null)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, fileName ?? $"{id}.{version}.nupkg");
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        Add(zip, $"{id}.nuspec", Encoding.UTF8.GetBytes($"""
            <?xml version="1.0" encoding="utf-8"?>
            <package xmlns="http://schemas.microsoft.com/packaging/2012/06/nuspec.xsd">
              <metadata>
                <id>{id}</id>
                <version>{version}</version>
                <authors>tests</authors>
                <description>test package</description>
                <dependencies>{dependencies}</dependencies>
              </metadata>
            </package>
            """));
        foreach (var (name, content) in files) Add(zip, name, content);
        return path;
    }

    private static void Add(ZipArchive zip, string name, byte[] content)
    {
        using var stream = zip.CreateEntry(name).Open();
        stream.Write(content);
    }
}

/// <summary>How much longer the tests wait on a loaded machine: RS_TEST_TIMEFACTOR (scripts/test.sh sets it), 3 by default.</summary>
internal static class TestTiming
{
    public static int Factor { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("RS_TEST_TIMEFACTOR"), out var f) && f > 0 ? f : 3;
}

/// <summary>A temporary folder deleted at the end of a test.</summary>
internal sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "rs-transformhost-tests", Guid.NewGuid().ToString("N"));

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Changes as the capture would produce them.</summary>
internal static class Changes
{
    private static long _sequence;

    public static ChangeEvent Insert(string table, params (string Column, object? Value)[] row) =>
        Make(table, ChangeOperation.Insert, null, Row(row));

    public static ChangeEvent Update(string table, params (string Column, object? Value)[] row) =>
        Make(table, ChangeOperation.Update, null, Row(row));

    public static ChangeEvent Delete(string table, params (string Column, object? Value)[] row) =>
        Make(table, ChangeOperation.Delete, Row(row), null);

    private static ChangeEvent Make(string table, ChangeOperation op, RowData? before, RowData? after)
    {
        var row = after ?? before!;
        var key = new RowData(row.Take(1).ToDictionary(p => p.Key, p => p.Value));
        var position = Interlocked.Increment(ref _sequence).ToString("D20");
        return new ChangeEvent("sqlite:retail", table, op, key, before, after,
            new DateTimeOffset(2026, 11, 26, 10, 0, 0, TimeSpan.Zero), new SourcePosition(position));
    }

    private static RowData Row((string Column, object? Value)[] row) =>
        new(row.ToDictionary(c => c.Column, c => c.Value, StringComparer.Ordinal));
}

/// <summary>Contexts for tests.</summary>
internal static class Contexts
{
    public static TransformContext For(string workflowId = "wf-test", IReadOnlyDictionary<string, string>? settings = null, ITransformLogger? logger = null) =>
        new(workflowId, "client-test", "1.0.0", settings ?? new Dictionary<string, string>(), logger ?? NullTransformLogger.Instance);
}
