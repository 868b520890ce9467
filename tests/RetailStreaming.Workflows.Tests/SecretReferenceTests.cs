using RetailStreaming.Workflows.Hosting;

namespace RetailStreaming.Workflows.Tests;

/// <summary>Secret references: environment variables, secret files, and the node's secrets file; errors name the secret, never a value.</summary>
public sealed class SecretReferenceTests : IDisposable
{
    private const string Value = "whsec_c2VjcmV0LXZhbHVlLW5ldmVyLXByaW50ZWQ=";
    private readonly string _directory = Directory.CreateTempSubdirectory("rs-secrets-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string WriteFile(string name, string text, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        File.SetUnixFileMode(path, mode);
        return path;
    }

    [Fact]
    public void An_environment_variable_is_read_and_a_missing_one_is_named()
    {
        var name = "RS_TEST_SECRET_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(name, Value);
        try
        {
            Assert.Equal(Value, SecretReference.Resolve("env:" + name, "delivery.secretRef"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
        var e = Assert.Throws<InvalidOperationException>(() => SecretReference.Resolve("env:" + name, "delivery.secretRefs[1]"));
        Assert.Equal($"delivery.secretRefs[1]: environment variable '{name}' is not set on this node.", e.Message);
    }

    [Theory]
    [InlineData("{\"acme_webhook\": \"" + Value + "\", \"other\": \"x\"}")]
    [InlineData("# the node's secrets\nother = x\n\nacme_webhook = " + Value + "\n")]
    [InlineData("acme_webhook=\"" + Value + "\"\n")]
    public void An_entry_of_the_secrets_file_is_read_from_JSON_or_lines(string text)
    {
        var file = WriteFile("secrets", text);
        Assert.Equal(Value, SecretReference.Resolve("file:acme_webhook", "delivery.secretRef", file));
    }

    [Fact]
    public void A_missing_entry_names_the_secret_and_the_file_but_no_value()
    {
        var file = WriteFile("secrets.json", "{\"acme_webhook\": \"" + Value + "\"}");
        var e = Assert.Throws<InvalidOperationException>(() => SecretReference.Resolve("file:acme_webhook_old", "delivery.secretRefs[1]", file));

        Assert.Equal($"delivery.secretRefs[1]: secret 'acme_webhook_old' is not in the node's secrets file '{file}'.", e.Message);
        Assert.DoesNotContain("c2VjcmV0", e.Message);
    }

    [Fact]
    public void A_secrets_file_readable_by_others_is_refused()
    {
        var file = WriteFile("secrets.json", "{\"acme_webhook\": \"" + Value + "\"}",
            UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var e = Assert.Throws<InvalidOperationException>(() => SecretReference.Resolve("file:acme_webhook", "delivery.secretRef", file));

        Assert.Contains("accessible to group or others (mode 644)", e.Message);
        Assert.Contains("chmod 600", e.Message);
        Assert.DoesNotContain("c2VjcmV0", e.Message);
    }

    [Fact]
    public void A_name_without_a_secrets_file_or_a_broken_file_is_a_clear_error()
    {
        var e = Assert.Throws<InvalidOperationException>(() => SecretReference.Resolve("file:acme_webhook", "delivery.secretRef"));
        Assert.Contains("set RetailStreaming:Secrets:File", e.Message);

        var broken = WriteFile("broken.json", "{\"acme_webhook\": \"" + Value);
        e = Assert.Throws<InvalidOperationException>(() => SecretReference.Resolve("file:acme_webhook", "delivery.secretRef", broken));
        Assert.Contains("is not valid JSON", e.Message);
        Assert.DoesNotContain("c2VjcmV0", e.Message);

        var lines = WriteFile("broken.env", "whsec_c2VjcmV0LXZhbHVl\n");
        e = Assert.Throws<InvalidOperationException>(() => SecretReference.Resolve("file:acme_webhook", "delivery.secretRef", lines));
        Assert.Contains("line 1: expected NAME=value", e.Message);
        Assert.DoesNotContain("c2VjcmV0", e.Message);

        e = Assert.Throws<InvalidOperationException>(() => SecretReference.Resolve("file:acme_webhook", "delivery.secretRef", Path.Combine(_directory, "none")));
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void A_whole_file_is_one_secret()
    {
        var file = WriteFile("webhook", Value + "\n");
        Assert.Equal(Value, SecretReference.Resolve("file:" + file, "delivery.secretRef"));
        var e = Assert.Throws<InvalidOperationException>(() => SecretReference.Resolve("file:" + file + ".missing", "delivery.secretRef"));
        Assert.StartsWith($"delivery.secretRef: secret file '{file}.missing' cannot be read", e.Message);
    }
}
