using RetailStreaming.Transforms;

namespace RetailStreaming.TransformHost;

/// <summary>
/// One transform instance created by a <see cref="TransformLoader"/>, holding its package version's
/// load context open. Dispose it when the workflow stops using the transform: the context is
/// unloaded once its last user has done so.
/// </summary>
public sealed class LoadedTransform : IDisposable
{
    private Action? _release;
    private ITransform? _transform;

    internal LoadedTransform(Action release, ExtractedTransformPackage package, string typeName, ITransform transform, Version? sdkVersion)
    {
        _release = release;
        _transform = transform;
        PackageId = package.Id;
        Version = package.Version;
        TargetFramework = package.TargetFramework;
        TypeName = typeName;
        SdkVersion = sdkVersion;
    }

    /// <summary>The package id, as its .nuspec spells it.</summary>
    public string PackageId { get; }

    /// <summary>The normalized package version.</summary>
    public string Version { get; }

    /// <summary>The lib folder loaded (<c>net8.0</c>).</summary>
    public string TargetFramework { get; }

    /// <summary>The full name of the transform class.</summary>
    public string TypeName { get; }

    /// <summary>The SDK version the package was built against, when it references the SDK.</summary>
    public Version? SdkVersion { get; }

    /// <summary>The transform instance; not to be used after <see cref="Dispose"/>.</summary>
    public ITransform Transform => _transform ?? throw new ObjectDisposedException(nameof(LoadedTransform));

    /// <summary>True once disposed.</summary>
    public bool IsDisposed => _transform is null;

    /// <summary>Drops the instance and releases the package version's load context.</summary>
    public void Dispose()
    {
        var release = Interlocked.Exchange(ref _release, null);
        if (release is null) return;
        _transform = null;
        release();
    }
}
