using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost.Tests.BadTransforms;

// Transforms that take their process down (or never return) on a change of the table "poison" and
// echo every other change: only process isolation survives them.

/// <summary>Allocates until the heap is exhausted (OutOfMemoryException under a heap limit).</summary>
public sealed class OutOfMemoryTransform : ITransform
{
    private static readonly List<byte[]> Hoard = [];

    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        if (change.Table == "poison")
            while (true) Hoard.Add(new byte[16 * 1024 * 1024]);
        return [Records.Echo(change)];
    }
}

/// <summary>Recurses without end: a stack overflow ends the process.</summary>
public sealed class StackOverflowTransform : ITransform
{
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        if (change.Table == "poison") return Recurse(change, 0);
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
        if (change.Table == "poison")
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
        if (change.Table == "poison")
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
