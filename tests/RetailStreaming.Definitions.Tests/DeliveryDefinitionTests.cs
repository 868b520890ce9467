using static RetailStreaming.Definitions.Tests.Definitions;

namespace RetailStreaming.Definitions.Tests;

/// <summary>The delivery fields for secret rotation, byte bounds, compression and the circuit breaker.</summary>
public class DeliveryDefinitionTests
{
    private const string SecretRefLine = "  secretRef: env:DEMO_WEBHOOK_SECRET";

    private static DeliveryDefinition Delivery(string yaml) => WorkflowDefinitionReader.Parse(yaml, FileName).Delivery;

    [Fact]
    public void The_defaults_are_one_secret_1_MiB_requests_no_compression_and_a_breaker_of_5_failures_and_30_s()
    {
        var delivery = Delivery(Valid);

        Assert.Equal(["env:DEMO_WEBHOOK_SECRET"], delivery.SecretRefs);
        Assert.Equal("env:DEMO_WEBHOOK_SECRET", delivery.SecretRef);
        Assert.Equal(1024 * 1024, delivery.Batching.MaxBytes);
        Assert.Equal("none", delivery.Compression);
        Assert.Equal(new CircuitBreakerDefinition(5, TimeSpan.FromSeconds(30)), delivery.CircuitBreaker);
    }

    [Fact]
    public void Every_new_field_is_read()
    {
        var delivery = Delivery(With(SecretRefLine, """
              secretRefs: [env:ACME_WEBHOOK_NEW, "file:acme_webhook_old", file:/run/secrets/oldest]
              compression: gzip
              batching: { maxRecords: 50, maxBytes: 256KiB, maxWait: 1s }
              circuitBreaker: { failureThreshold: 0, coolDown: 2m }
            """));

        Assert.Equal(["env:ACME_WEBHOOK_NEW", "file:acme_webhook_old", "file:/run/secrets/oldest"], delivery.SecretRefs);
        Assert.Equal("env:ACME_WEBHOOK_NEW", delivery.SecretRef);
        Assert.Equal("gzip", delivery.Compression);
        Assert.Equal(256 * 1024, delivery.Batching.MaxBytes);
        Assert.Equal(50, delivery.Batching.MaxRecords);
        Assert.Equal(new CircuitBreakerDefinition(0, TimeSpan.FromMinutes(2)), delivery.CircuitBreaker);
    }

    [Theory]
    [InlineData("4096", 4096)]
    [InlineData("64KB", 64_000)]
    [InlineData("1MiB", 1024 * 1024)]
    [InlineData("2 MB", 2_000_000)]
    public void Sizes_take_units(string value, int bytes) =>
        Assert.Equal(bytes, Delivery(With(SecretRefLine, SecretRefLine + $"\n  batching: {{ maxBytes: {value} }}")).Batching.MaxBytes);

    [Theory]
    [InlineData("512", "must be from 1024 bytes")]
    [InlineData("100MiB", "must be from 1024 bytes")]
    [InlineData("lots", "malformed size 'lots'")]
    [InlineData("1.5MB", "malformed size")]
    public void A_bad_size_is_rejected_where_it_is(string value, string message)
    {
        var error = SingleError(With(SecretRefLine, SecretRefLine + $"\n  batching: {{ maxBytes: {value} }}"));

        Assert.Equal(("delivery.batching.maxBytes", 15), (error.Field, error.Line));
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void SecretRef_and_secretRefs_exclude_each_other()
    {
        var error = SingleError(With(SecretRefLine, SecretRefLine + "\n  secretRefs: [env:OTHER]"));

        Assert.Equal(("delivery.secretRefs", 15, 3), (error.Field, error.Line, error.Column));
        Assert.Contains("exclude each other", error.Message);
    }

    [Theory]
    [InlineData("[]", "delivery.secretRefs", "expected a list of 1 to 5 secret references")]
    [InlineData("env:ONE", "delivery.secretRefs", "expected a list")]
    [InlineData("[env:A, env:B, env:C, env:D, env:E, env:F]", "delivery.secretRefs", "at most 5")]
    [InlineData("[env:A, env:A]", "delivery.secretRefs[1]", "duplicate secret reference")]
    [InlineData("[env:A, whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]", "delivery.secretRefs[1]", "looks like the secret itself")]
    public void A_bad_secret_list_is_rejected_without_echoing_it(string value, string field, string message)
    {
        var error = SingleError(With(SecretRefLine, $"  secretRefs: {value}"));

        Assert.Equal((field, 14), (error.Field, error.Line));
        Assert.Contains(message, error.Message);
        Assert.DoesNotContain("MfKQ9r8G", error.ToString());
    }

    [Fact]
    public void An_unknown_compression_and_a_bad_breaker_are_rejected()
    {
        var errors = Errors(With(SecretRefLine, SecretRefLine + "\n  compression: brotli\n  circuitBreaker: { failureThreshold: -1, coolDown: soon }"));

        Assert.Collection(errors,
            e => Assert.Equal(("delivery.compression", 15, "unknown compression 'brotli'; accepted: none, gzip"), (e.Field, e.Line, e.Message)),
            e => Assert.Equal(("delivery.circuitBreaker.failureThreshold", 16), (e.Field, e.Line)),
            e => Assert.Equal(("delivery.circuitBreaker.coolDown", 16), (e.Field, e.Line)));
    }

    [Theory]
    [InlineData("file:acme_webhook")]
    [InlineData("file:acme-webhook.v2")]
    [InlineData("file:/run/secrets/webhook")]
    public void A_secret_reference_may_name_an_entry_of_the_nodes_secrets_file(string reference) =>
        Assert.Equal(reference, Delivery(With(SecretRefLine, $"  secretRef: \"{reference}\"")).SecretRef);
}
