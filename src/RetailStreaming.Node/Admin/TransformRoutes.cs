using System.Text.RegularExpressions;
using RetailStreaming.Store;
using RetailStreaming.TransformHost;
using static RetailStreaming.Node.Admin.AdminApi;

namespace RetailStreaming.Node.Admin;

/// <summary>
/// The <c>/api/transforms</c> routes (operators only): publish a transform package into the
/// cluster's package store, list the published versions. A version is checked before it is
/// stored (checksum, a loadable package with at least one transform class) and never changes after.
/// </summary>
internal static partial class TransformRoutes
{
    /// <summary>The largest package accepted; transform packages are small (a fat package of a few assemblies).</summary>
    private const long MaxPackageBytes = 64L * 1024 * 1024;

    public static void MapTransformRoutes(this RouteGroupBuilder api)
    {
        var transforms = api.MapGroup("/transforms").OperatorOnly();

        transforms.MapGet("", async (string? packageId, ITransformPackageRegistry registry, HttpContext http) =>
            Results.Ok((await registry.ListAsync(packageId, http.RequestAborted)).Select(View)));

        transforms.MapPost("", async (string? sha256, ITransformPackageRegistry registry, HttpContext http) =>
        {
            if (sha256 is null || !Sha256Hex().IsMatch(sha256))
                return Problem(400, "invalid publication", "Send the package's SHA-256 as ?sha256=<64 hex digits> (rsctl transform publish does).");
            if (http.Request.ContentLength > MaxPackageBytes)
                return Problem(413, "package too large", $"A transform package may be at most {MaxPackageBytes / (1024 * 1024)} MB.");
            byte[] content;
            using (var buffer = new MemoryStream())
            {
                await http.Request.Body.CopyToAsync(buffer, http.RequestAborted);
                content = buffer.ToArray();
            }
            var actual = TransformPackageStore.Sha256Of(content);
            if (!string.Equals(actual, sha256, StringComparison.OrdinalIgnoreCase))
                return Problem(400, "checksum mismatch",
                    $"The package received has SHA-256 {actual}, not {sha256.ToLowerInvariant()}: it was damaged on the way. Nothing was stored; publish it again.");

            var work = Path.Combine(Path.GetTempPath(), $"rs-publish-{Guid.NewGuid():N}");
            try
            {
                Directory.CreateDirectory(work);
                var upload = Path.Combine(work, "upload.nupkg");
                await File.WriteAllBytesAsync(upload, content, http.RequestAborted);
                TransformPackageIdentity identity;
                try
                {
                    identity = TransformPackageStore.ReadIdentity(upload);
                }
                catch (TransformLoadException e)
                {
                    return Problem(400, "invalid package", $"The upload is not a transform package: {e.Reason}");
                }

                // An existing version answers first: publishing the same bytes again is a no-op.
                if (await registry.FindAsync(identity.Id, identity.Version, http.RequestAborted) is { } existing)
                    return Outcome(existing.Sha256 == actual ? PublishOutcome.AlreadyPublished : PublishOutcome.Conflict, existing, actual);

                // Loaded as a node would load it, in a throwaway load context: a package no node
                // could run is refused now, not when a workflow first needs it.
                var feed = Path.Combine(work, "feed");
                Directory.CreateDirectory(feed);
                File.Move(upload, Path.Combine(feed, $"{identity.Id}.{identity.Version}.nupkg"));
                IReadOnlyList<string> types;
                try
                {
                    types = new TransformLoader(new TransformPackageStore(feed, Path.Combine(work, "cache")))
                        .FindTransformTypes(identity.Id, identity.Version);
                }
                catch (TransformLoadException e)
                {
                    return Problem(400, "package cannot be loaded", $"{e.Message} Nothing was stored.");
                }
                if (types.Count == 0)
                    return Problem(400, "no transform in package",
                        $"{identity.Id} {identity.Version} has no public class implementing ITransform with a public parameterless constructor; nothing was stored.");

                var (outcome, stored) = await registry.PublishAsync(
                    new PublishedTransform(identity.Id, identity.Version, actual, content.LongLength, types, default, Caller(http)?.Id ?? "?"),
                    content, http.RequestAborted);
                return Outcome(outcome, stored, actual);
            }
            finally
            {
                try { Directory.Delete(work, recursive: true); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* a temp folder: best effort */ }
            }
        });
    }

    private static IResult Outcome(PublishOutcome outcome, PublishedTransform stored, string sha256) => outcome switch
    {
        PublishOutcome.Created => Results.Json(View(stored, created: true), statusCode: 201),
        PublishOutcome.AlreadyPublished => Results.Ok(View(stored, created: false)),
        _ => Problem(409, "version already published",
            $"{stored.PackageId} {stored.Version} is already published with other content (sha256 {stored.Sha256}, published {stored.PublishedAt:yyyy-MM-dd HH:mm:ss}Z by {stored.PublishedBy}); " +
            $"this package's sha256 is {sha256}. A published version never changes (replays must run the code that produced the output): publish it under a new version."),
    };

    private static object View(PublishedTransform p) => View(p, null);

    private static object View(PublishedTransform p, bool? created) => new
    {
        p.PackageId, p.Version, p.Sha256, p.Size, p.Types, p.PublishedAt, p.PublishedBy, created,
    };

    [GeneratedRegex("^[0-9a-fA-F]{64}$")]
    private static partial Regex Sha256Hex();
}
