using System.Text.Json.Nodes;
using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost.Tests.BadTransforms;

internal static class Records
{
    // Built by hand rather than with OutputRecord.Create, so that no serializer metadata about this
    // assembly's types is cached by the host (the unload tests rely on it).
    public static OutputRecord Echo(ChangeEvent change) =>
        new("echo", change.Position.Value, new JsonObject { ["table"] = change.Table, ["position"] = change.Position.Value });
}

/// <summary>Returns one record per change, and logs it.</summary>
public sealed class EchoTransform : ITransform
{
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        context.Logger.Debug("Echoing {Position}", change.Position.Value);
        return [Records.Echo(change)];
    }
}

/// <summary>Throws for every change.</summary>
public sealed class ThrowingTransform : ITransform
{
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context) =>
        throw new InvalidOperationException($"Cannot transform {change.Table} at {change.Position}.");
}

/// <summary>Sleeps for the <c>sleepMs</c> setting (default 2000) before answering.</summary>
public sealed class SleepingTransform : ITransform
{
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        Thread.Sleep(int.Parse(context.GetSetting("sleepMs", "2000")));
        return [Records.Echo(change)];
    }
}

/// <summary>Yields one record, then throws while being enumerated.</summary>
public sealed class LazyThrowingTransform : ITransform
{
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        yield return Records.Echo(change);
        throw new InvalidDataException($"Lazy failure after the first record of {change.Position}.");
    }
}

/// <summary>Yields lazily, sleeping <c>sleepMs</c> between records, so only enumeration overruns.</summary>
public sealed class LazySleepingTransform : ITransform
{
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context)
    {
        var sleep = int.Parse(context.GetSetting("sleepMs", "2000"));
        for (var i = 0; i < 3; i++)
        {
            Thread.Sleep(sleep);
            yield return Records.Echo(change);
        }
    }
}

/// <summary>Returns the invalid output its change's table names.</summary>
public sealed class InvalidOutputTransform : ITransform
{
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context) => change.Table switch
    {
        "null-sequence" => null!,
        "null-record" => [Records.Echo(change), null!],
        "empty-type" => [new OutputRecord("", "k", new JsonObject())],
        "empty-key" => [new OutputRecord("t", " ", new JsonObject())],
        "null-payload" => [new OutputRecord("t", "k", null!)],
        "endless" => Endless(change),
        _ => [Records.Echo(change)],
    };

    private static IEnumerable<OutputRecord> Endless(ChangeEvent change)
    {
        while (true) yield return Records.Echo(change);
    }
}

/// <summary>Throws from Initialize.</summary>
public sealed class InitializeThrowingTransform : ITransform
{
    public void Initialize(TransformContext context) =>
        throw new KeyNotFoundException("The transform needs setting 'endpoint'.");

    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context) => [];
}

/// <summary>Throws from its constructor.</summary>
public sealed class ConstructorThrowingTransform : ITransform
{
    public ConstructorThrowingTransform() => throw new InvalidOperationException("Constructor refused to run.");

    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context) => [];
}

/// <summary>Has no parameterless constructor.</summary>
public sealed class NoDefaultConstructorTransform(string name) : ITransform
{
    public IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context) =>
        [new OutputRecord(name, change.Position.Value, new JsonObject())];
}

/// <summary>Cannot be instantiated.</summary>
public abstract class AbstractTransform : ITransform
{
    public abstract IEnumerable<OutputRecord> Transform(ChangeEvent change, TransformContext context);
}

/// <summary>Not a transform at all.</summary>
public sealed class NotATransform
{
    public override string ToString() => "not a transform";
}
