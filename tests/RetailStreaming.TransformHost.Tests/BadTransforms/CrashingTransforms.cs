using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost.Tests.BadTransforms;

// Transforms that take their process down (or never return) on a poison change and echo every
// other change: only process isolation survives them.

internal static class Poison
{
    /// <summary>A change of the table "poison", or whose key starts with "POISON" (a ticket id in the node tests).</summary>
    public static bool Is(ChangeEvent change) =>
        change.Table == "poison" || change.Key.Values.Any(v => v is string s && s.StartsWith("POISON", StringComparison.Ordinal));
}

/// <summary>Allocates until the heap is exhausted (OutOfMemoryException under a heap limit).</summary>
public sealed class OutOfMemoryTransform : ITransform
{
    private static readonly List<byte[]> Hoard = [];

    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        if (Poison.Is(change))
            while (true) Hoard.Add(new byte[16 * 1024 * 1024]);
        return [Records.Echo(change)];
    }
}

/// <summary>Recurses without end: a stack overflow ends the process.</summary>
public sealed class StackOverflowTransform : ITransform
{
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        if (Poison.Is(change)) return Recurse(change, 0);
        return [Records.Echo(change)];
    }

    private static IEnumerable<OutputRecord> Recurse(ChangeEvent change, int depth) =>
        depth < int.MaxValue ? Recurse(change, depth + 1).Append(Records.Echo(change)) : [];
}

/// <summary>Calls Environment.Exit(3).</summary>
public sealed class ExitingTransform : ITransform
{
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        if (Poison.Is(change))
        {
            Console.WriteLine("exiting on purpose");
            Environment.Exit(3);
        }
        return [Records.Echo(change)];
    }
}

/// <summary>Spins for ever.</summary>
public sealed class EndlessLoopTransform : ITransform
{
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        if (Poison.Is(change))
        {
            var spins = 0L;
            while (true) spins++;
        }
        return [Records.Echo(change)];
    }
}

/// <summary>Ends its process in Initialize: a worker running it dies on every start.</summary>
public sealed class ExitOnInitializeTransform : ITransform
{
    public void Initialize(TransformContext context) => Environment.Exit(7);

    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context) => [Records.Echo(change)];
}
