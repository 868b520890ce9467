using System.Runtime.CompilerServices;
using RetailStreaming.Transforms.Testing;
using Xunit;

namespace Company.Transform.Tests;

public class SalesTransformTests
{
    /// <summary>
    /// Runs the transform over every fixtures/*.input.ndjson and compares with *.expected.ndjson;
    /// a difference fails with the input line, the field, the expected and the actual value.
    /// After an intended change: RS_UPDATE_GOLDEN=1 dotnet test, then review the diff.
    /// </summary>
    [Fact]
    public void Fixtures_give_the_expected_records() =>
        TransformFixtures.Verify<SalesTransform>(FixtureFolder());

    // The source folder (not the build output), so that update mode rewrites the files you commit.
    private static string FixtureFolder([CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(thisFile)!, "fixtures");
}
