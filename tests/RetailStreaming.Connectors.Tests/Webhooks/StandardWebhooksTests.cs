using RetailStreaming.Connectors.Webhooks;

namespace RetailStreaming.Connectors.Tests.Webhooks;

public sealed class StandardWebhooksTests
{
    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    // The example of the Standard Webhooks specification.
    private const string SpecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    private const string SpecId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    private const long SpecTimestamp = 1614265330;
    private const string SpecBody = "{\"test\": 2432232314}";

    [Fact]
    public void Sign_matches_the_specification_example()
    {
        Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", StandardWebhooks.Sign(SpecSecret, SpecId, SpecTimestamp, SpecBody));
    }

    [Fact]
    public void Verify_checks_the_signature_the_timestamp_and_accepts_any_of_several_signatures()
    {
        var clock = new FixedClock(DateTimeOffset.FromUnixTimeSeconds(SpecTimestamp + 60));
        var signature = StandardWebhooks.Sign(SpecSecret, SpecId, SpecTimestamp, SpecBody);
        var other = StandardWebhooks.Sign(StandardWebhooks.GenerateSecret(), SpecId, SpecTimestamp, SpecBody);
        Dictionary<string, string> Headers(string sig, long ts = SpecTimestamp) => new()
        {
            ["Webhook-Id"] = SpecId, ["Webhook-Timestamp"] = ts.ToString(System.Globalization.CultureInfo.InvariantCulture), ["Webhook-Signature"] = sig,
        };

        Assert.True(StandardWebhooks.Verify(SpecSecret, Headers(signature), SpecBody, TimeSpan.FromMinutes(5), clock));
        Assert.True(StandardWebhooks.Verify(SpecSecret, Headers($"{other} {signature}"), SpecBody, TimeSpan.FromMinutes(5), clock));
        Assert.False(StandardWebhooks.Verify(SpecSecret, Headers(other), SpecBody, TimeSpan.FromMinutes(5), clock));
        Assert.False(StandardWebhooks.Verify(SpecSecret, Headers("v2," + signature[3..]), SpecBody, TimeSpan.FromMinutes(5), clock));
        Assert.False(StandardWebhooks.Verify(SpecSecret, Headers(signature), SpecBody + " ", TimeSpan.FromMinutes(5), clock));
        Assert.False(StandardWebhooks.Verify(SpecSecret, Headers(signature), SpecBody, TimeSpan.FromSeconds(30), out var failure, clock));
        Assert.Contains("tolerance", failure);
        Assert.False(StandardWebhooks.Verify(SpecSecret, new Dictionary<string, string>(), SpecBody, TimeSpan.FromMinutes(5), out failure, clock));
        Assert.Contains("missing", failure);
    }

    [Fact]
    public void A_malformed_secret_is_refused_with_a_message_that_does_not_quote_it()
    {
        var e = Assert.Throws<ArgumentException>(() => StandardWebhooks.DecodeSecret("whsec_%%%%secretpart"));
        Assert.DoesNotContain("secretpart", e.Message);
        Assert.Contains("base64", e.Message);
        Assert.Equal(32, StandardWebhooks.DecodeSecret(StandardWebhooks.GenerateSecret()).Length);
    }
}
