using System.Reflection;
using System.Reflection.Metadata;
using System.Text.Json;

namespace RetailStreaming.TransformHost;

/// <summary>
/// Lets go of what System.Text.Json has cached about a transform's types once its load context unloads.
/// </summary>
/// <remarks>
/// A <see cref="JsonSerializerOptions"/> instance caches the metadata of every type it has serialized.
/// When the options live in the host, for instance the SDK's own in <c>OutputRecord.Create</c>, that
/// cache holds the transform's (anonymous) payload types, and with them its load context, for good:
/// the context never unloads (https://github.com/dotnet/runtime/issues/65323). System.Text.Json clears
/// these caches for Hot Reload through its <see cref="MetadataUpdateHandlerAttribute"/> handler; the
/// host calls the same handler after an unload. It clears every options instance's cache, so the next
/// serialization of each type pays its warm-up again: acceptable for an event as rare as unloading a
/// transform version. Should the handler ever disappear, this does nothing and the context stays loaded.
/// </remarks>
internal static class SerializerCaches
{
    private static readonly MethodInfo[] ClearMethods = typeof(JsonSerializerOptions).Assembly
        .GetCustomAttributes<MetadataUpdateHandlerAttribute>()
        .Select(a => a.HandlerType.GetMethod("ClearCache", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static, [typeof(Type[])]))
        .OfType<MethodInfo>()
        .ToArray();

    public static void Clear()
    {
        foreach (var clear in ClearMethods)
        {
            try
            {
                clear.Invoke(null, [null]);
            }
            catch (TargetInvocationException)
            {
                // Best effort: a cache that cannot be cleared only delays the unload.
            }
        }
    }
}
