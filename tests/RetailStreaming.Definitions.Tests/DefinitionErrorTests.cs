using static RetailStreaming.Definitions.Tests.Definitions;

namespace RetailStreaming.Definitions.Tests;

/// <summary>Each kind of error: its line, column, field and message. Line numbers refer to <see cref="Definitions.Valid"/>.</summary>
public class DefinitionErrorTests
{
    private const string TablesLine = "  tables: [tickets, products, catalog]";
    private const string SecretRefLine = "  secretRef: env:DEMO_WEBHOOK_SECRET";

    [Fact]
    public void Broken_yaml_syntax_is_reported_where_the_parser_stopped()
    {
        var error = SingleError(With("client: acme", "client: [acme"));

        Assert.Equal("<yaml>", error.Field);
        Assert.Equal(3, error.Line);
        Assert.StartsWith("invalid YAML: ", error.Message);
        Assert.DoesNotContain("Idx:", error.Message);
    }

    [Fact]
    public void Retention_defaults_to_a_thousand_changes_is_bounded_and_applies_to_sqlite_only()
    {
        Assert.Equal(1000, WorkflowDefinitionReader.Parse(Valid, FileName).Source.Retention);
        Assert.Equal(50_000, WorkflowDefinitionReader.Parse(With("  tables: [tickets, products, catalog]\n",
            "  tables: [tickets, products, catalog]\n  retention: 50000\n"), FileName).Source.Retention);

        var negative = SingleError(With("  tables: [tickets, products, catalog]\n", "  tables: [tickets, products, catalog]\n  retention: -1\n"));
        Assert.Equal(("source.retention", 7), (negative.Field, negative.Line));

        var postgres = SingleError(With("  kind: sqlite\n", "  kind: postgres\n")
            .Replace("  tables: [tickets, products, catalog]\n", "  tables: [tickets, products, catalog]\n  retention: 10\n"));
        Assert.Equal(("source.retention", 7, 14), (postgres.Field, postgres.Line, postgres.Column));
        Assert.Contains("sqlite sources only", postgres.Message);
    }

    [Fact]
    public void A_tab_indentation_is_a_syntax_error_with_its_position()
    {
        var error = SingleError(With("  kind: sqlite", "\tkind: sqlite"));

        Assert.Equal(("<yaml>", 4, 1), (error.Field, error.Line, error.Column));
        Assert.Contains("tab", error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n\n")]
    [InlineData("# nothing but a comment\n")]
    [InlineData("~\n")]
    public void An_empty_file_is_rejected(string yaml)
    {
        var error = SingleError(yaml);

        Assert.Equal("<document>", error.Field);
        Assert.Contains("empty", error.Message);
        Assert.Equal(1, error.Line);
    }

    [Theory]
    [InlineData("- id: demo\n- client: acme\n", "found a list")]
    [InlineData("just some text\n", "found 'just some text'")]
    public void A_document_that_is_not_a_mapping_is_rejected(string yaml, string found)
    {
        var error = SingleError(yaml);

        Assert.Equal("<document>", error.Field);
        Assert.Equal((1, 1), (error.Line, error.Column));
        Assert.Contains("expected a mapping with id, client, source, transform and delivery", error.Message);
        Assert.Contains(found, error.Message);
    }

    [Fact]
    public void A_second_yaml_document_is_rejected()
    {
        var error = SingleError(Valid + "---\nid: other-workflow\n");

        Assert.Equal("<document>", error.Field);
        Assert.Equal(15, error.Line);
        Assert.Contains("exactly one YAML document", error.Message);
    }

    [Fact]
    public void A_missing_top_level_field_points_at_the_document()
    {
        var error = SingleError(With("client: acme\n", ""));

        Assert.Equal(("client", 1, 1), (error.Field, error.Line, error.Column));
        Assert.StartsWith("is required", error.Message);
    }

    [Fact]
    public void A_missing_nested_field_points_at_its_section()
    {
        var error = SingleError(With(TablesLine + "\n", ""));

        Assert.Equal(("source.tables", 3, 1), (error.Field, error.Line, error.Column));
        Assert.StartsWith("is required", error.Message);
    }

    [Fact]
    public void A_missing_section_is_reported_once_without_its_fields()
    {
        var yaml = Valid[..Valid.IndexOf("delivery:", StringComparison.Ordinal)];

        var error = SingleError(yaml);

        Assert.Equal(("delivery", 1), (error.Field, error.Line));
        Assert.StartsWith("is required", error.Message);
    }

    [Fact]
    public void An_empty_required_value_is_reported_at_the_value()
    {
        var error = SingleError(With("  version: 1.0.0", "  version:"));

        Assert.Equal(("transform.version", 9), (error.Field, error.Line));
        Assert.Equal("expected a string, found an empty value", error.Message);
    }

    [Fact]
    public void A_mapping_where_a_string_is_expected_is_a_type_error()
    {
        var error = SingleError(With("id: demo-retail", "id: { name: demo-retail }"));

        Assert.Equal(("id", 1, 5), (error.Field, error.Line, error.Column));
        Assert.Equal("expected a string, found a mapping", error.Message);
    }

    [Fact]
    public void A_text_where_a_section_is_expected_is_a_type_error()
    {
        var error = SingleError(With("source:\n  kind: sqlite\n  connection: \"Data Source=/data/retail.db\"\n" + TablesLine, "source: sqlite"));

        Assert.Equal(("source", 3, 9), (error.Field, error.Line, error.Column));
        Assert.Contains("expected a mapping with kind, connection", error.Message);
        Assert.Contains("found 'sqlite'", error.Message);
    }

    [Theory]
    [InlineData("lots", "found 'lots'")]
    [InlineData("12.5", "found '12.5'")]
    [InlineData("[1, 2]", "found a list")]
    public void A_non_integer_batch_size_is_a_type_error(string value, string found)
    {
        var error = SingleError(With(TablesLine, TablesLine + $"\n  batchSize: {value}"));

        Assert.Equal(("source.batchSize", 7, 14), (error.Field, error.Line, error.Column));
        Assert.StartsWith("expected an integer from 1 to 10000", error.Message);
        Assert.Contains(found, error.Message);
    }

    [Fact]
    public void A_heartbeat_interval_is_for_postgres_sources_only()
    {
        var error = SingleError(With(TablesLine, TablesLine + "\n  heartbeatInterval: 5s"));

        Assert.Equal(("source.heartbeatInterval", 7, 3), (error.Field, error.Line, error.Column));
        Assert.Equal("applies to kind postgres only (heartbeats let a replication slot advance); remove it for kind 'sqlite'", error.Message);
    }

    [Theory]
    [InlineData("500ms", "must be from 1s to 1h, or off; found 500ms")]
    [InlineData("2h", "must be from 1s to 1h, or off; found 7200s")]
    [InlineData("0s", "must be positive; found '0s'")]
    [InlineData("soon", "malformed duration 'soon'")]
    public void A_heartbeat_interval_out_of_range_is_rejected(string value, string message)
    {
        var error = SingleError(With("  kind: sqlite", "  kind: postgres").Replace(TablesLine, TablesLine + $"\n  heartbeatInterval: {value}"));

        Assert.Equal(("source.heartbeatInterval", 7, 22), (error.Field, error.Line, error.Column));
        Assert.StartsWith(message, error.Message);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("10001")]
    [InlineData("99999999999999999")]
    public void A_batch_size_out_of_range_is_rejected(string value)
    {
        var error = SingleError(With(TablesLine, TablesLine + $"\n  batchSize: {value}"));

        Assert.Equal(("source.batchSize", 7), (error.Field, error.Line));
        Assert.Equal($"must be from 1 to 10000; found {value}", error.Message);
    }

    [Fact]
    public void Batching_and_retry_numbers_are_range_checked()
    {
        var errors = Errors(With(SecretRefLine, SecretRefLine + "\n  batching: { maxRecords: 20000 }\n  retry:\n    maxAttempts: -1"));

        Assert.Collection(errors,
            e =>
            {
                Assert.Equal(("delivery.batching.maxRecords", 15, 27), (e.Field, e.Line, e.Column));
                Assert.Contains("must be from 1 to 10000", e.Message);
            },
            e =>
            {
                Assert.Equal(("delivery.retry.maxAttempts", 17), (e.Field, e.Line));
                Assert.Equal("must be 0 or more; found -1", e.Message);
            });
    }

    [Fact]
    public void An_unknown_source_kind_lists_the_accepted_ones()
    {
        var error = SingleError(With("  kind: sqlite", "  kind: mysql"));

        Assert.Equal(("source.kind", 4, 9), (error.Field, error.Line, error.Column));
        Assert.Equal("unknown source kind 'mysql'; accepted: sqlite, postgres", error.Message);
    }

    [Fact]
    public void An_unknown_delivery_kind_lists_the_accepted_ones()
    {
        var error = SingleError(With("  kind: webhook", "  kind: kafka"));

        Assert.Equal(("delivery.kind", 12), (error.Field, error.Line));
        Assert.Equal("unknown delivery kind 'kafka'; accepted: webhook, table, file", error.Message);
    }

    [Fact]
    public void An_unknown_field_near_a_known_one_gets_a_suggestion()
    {
        var error = SingleError(With(TablesLine, TablesLine + "\n  batchsize: 100"));

        Assert.Equal(("source.batchsize", 7, 3), (error.Field, error.Line, error.Column));
        Assert.Equal("unknown field; did you mean 'batchSize'?", error.Message);
    }

    [Fact]
    public void A_misspelt_field_two_edits_away_gets_a_suggestion()
    {
        var errors = Errors(With("  url: http", "  ulr: http"));

        Assert.Collection(errors,
            e => Assert.Equal("workflow.yaml:11:1: delivery.url: is required: the endpoint's http or https URL", e.ToString()),
            e => Assert.Equal("workflow.yaml:13:3: delivery.ulr: unknown field; did you mean 'url'?", e.ToString()));
    }

    [Fact]
    public void An_unknown_field_far_from_any_known_one_lists_the_known_ones()
    {
        var error = SingleError(Valid + "colour: blue\n");

        Assert.Equal(("colour", 15, 1), (error.Field, error.Line, error.Column));
        Assert.Equal("unknown field; expected one of: id, client, source, transform, delivery, health", error.Message);
    }

    [Fact]
    public void A_duplicate_field_is_reported_at_its_second_occurrence()
    {
        var error = SingleError(With("client: acme", "client: acme\nid: other"));

        Assert.Equal(("id", 3, 1), (error.Field, error.Line, error.Column));
        Assert.Equal("duplicate field; first set at line 1", error.Message);
    }

    [Fact]
    public void A_duplicate_setting_is_reported()
    {
        var error = SingleError(With("  version: 1.0.0", "  version: 1.0.0\n  settings: { currency: EUR, currency: USD }"));

        Assert.Equal(("transform.settings.currency", 10), (error.Field, error.Line));
        Assert.StartsWith("duplicate field", error.Message);
    }

    [Theory]
    [InlineData("30", "malformed duration '30'")]
    [InlineData("5 sec", "malformed duration '5 sec'")]
    [InlineData("1d", "malformed duration '1d'")]
    [InlineData("0ms", "must be positive")]
    [InlineData("-1s", "must be positive")]
    [InlineData("99999999999h", "too large")]
    public void A_malformed_or_non_positive_duration_is_rejected(string value, string fragment)
    {
        var error = SingleError(With(SecretRefLine, SecretRefLine + $"\n  timeout: {value}"));

        Assert.Equal(("delivery.timeout", 15, 12), (error.Field, error.Line, error.Column));
        Assert.Contains(fragment, error.Message);
    }

    [Fact]
    public void A_nested_duration_names_its_full_path()
    {
        var error = SingleError(With(SecretRefLine, SecretRefLine + "\n  retry:\n    initialBackoff: soon"));

        Assert.Equal(("delivery.retry.initialBackoff", 16, 21), (error.Field, error.Line, error.Column));
        Assert.Contains("expected a number and a unit (ms, s, m or h)", error.Message);
    }

    [Fact]
    public void A_max_backoff_below_the_initial_backoff_is_rejected()
    {
        var error = SingleError(With(SecretRefLine, SecretRefLine + "\n  retry: { initialBackoff: 10s, maxBackoff: 1s }"));

        Assert.Equal(("delivery.retry.maxBackoff", 15), (error.Field, error.Line));
        Assert.Contains("must not be less than initialBackoff", error.Message);
    }

    [Theory]
    [InlineData("ftp://example.com/hooks")]
    [InlineData("/hooks")]
    [InlineData("example.com/hooks")]
    [InlineData("not a url")]
    public void A_malformed_url_is_rejected(string url)
    {
        var error = SingleError(With("  url: http://127.0.0.1:5080/hooks", $"  url: \"{url}\""));

        Assert.Equal(("delivery.url", 13, 8), (error.Field, error.Line, error.Column));
        Assert.StartsWith("malformed URL: expected an absolute http or https URL", error.Message);
    }

    [Fact]
    public void A_url_with_credentials_is_rejected_without_echoing_them()
    {
        var error = SingleError(With("http://127.0.0.1", "https://user:hunter2@127.0.0.1"));

        Assert.Equal("delivery.url", error.Field);
        Assert.Contains("credentials", error.Message);
        Assert.DoesNotContain("hunter2", error.Message);
    }

    [Theory]
    [InlineData("DEMO_WEBHOOK_SECRET", "expected env:NAME, file:/absolute/path or file:NAME")]
    [InlineData("env:1BAD", "environment variable name")]
    [InlineData("env:", "environment variable name")]
    [InlineData("file:secrets/webhook", "absolute path")]
    [InlineData("vault:kv/webhook", "expected env:NAME, file:/absolute/path or file:NAME")]
    public void A_malformed_secret_reference_is_rejected(string reference, string fragment)
    {
        var error = SingleError(With(SecretRefLine, $"  secretRef: \"{reference}\""));

        Assert.Equal(("delivery.secretRef", 14, 14), (error.Field, error.Line, error.Column));
        Assert.StartsWith("malformed secret reference", error.Message);
        Assert.Contains(fragment, error.Message);
    }

    [Fact]
    public void A_secret_pasted_as_a_reference_is_not_echoed()
    {
        var error = SingleError(With(SecretRefLine, "  secretRef: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));

        Assert.Contains("looks like the secret itself", error.Message);
        Assert.DoesNotContain("MfKQ9r8G", error.Message);
    }

    [Fact]
    public void An_inline_secret_is_rejected_in_favour_of_secret_ref()
    {
        var error = SingleError(With(SecretRefLine, SecretRefLine + "\n  secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));

        Assert.Equal(("delivery.secret", 15, 3), (error.Field, error.Line, error.Column));
        Assert.Contains("inline secrets are not allowed", error.Message);
        Assert.Contains("secretRef: env:NAME, file:/absolute/path or file:NAME", error.Message);
        Assert.DoesNotContain("MfKQ9r8G", error.ToString());
    }

    [Fact]
    public void An_inline_secret_instead_of_secret_ref_gives_both_errors()
    {
        var errors = Errors(With(SecretRefLine, "  secret: whsec_abc"));

        Assert.Collection(errors,
            e => Assert.Equal(("delivery.secretRef", 11), (e.Field, e.Line)),
            e => Assert.Equal(("delivery.secret", 14), (e.Field, e.Line)));
    }

    [Fact]
    public void A_connection_string_with_a_password_is_rejected()
    {
        var yaml = With("  kind: sqlite\n  connection: \"Data Source=/data/retail.db\"",
            "  kind: postgres\n  connection: \"Host=db;Username=retail;Password=hunter2\"");

        var error = SingleError(yaml);

        Assert.Equal(("source.connection", 5), (error.Field, error.Line));
        Assert.Contains("connectionRef", error.Message);
        Assert.DoesNotContain("hunter2", error.ToString());
    }

    [Fact]
    public void Connection_and_connection_ref_exclude_each_other()
    {
        var error = SingleError(With(TablesLine, TablesLine + "\n  connectionRef: env:RETAIL_DB"));

        Assert.Equal(("source.connectionRef", 7), (error.Field, error.Line));
        Assert.Contains("exactly one", error.Message);
    }

    [Fact]
    public void One_of_connection_and_connection_ref_is_required()
    {
        var error = SingleError(With("  connection: \"Data Source=/data/retail.db\"\n", ""));

        Assert.Equal(("source.connection", 3), (error.Field, error.Line));
        Assert.StartsWith("is required", error.Message);
        Assert.Contains("connectionRef", error.Message);
    }

    [Theory]
    [InlineData("tables: []", "source.tables", "must list at least one table")]
    [InlineData("tables: tickets", "source.tables", "expected a list of table names")]
    [InlineData("tables: [tickets, \"\"]", "source.tables[1]", "must not be empty")]
    [InlineData("tables: [tickets, [a]]", "source.tables[1]", "expected a table name, found a list")]
    [InlineData("tables: [tickets, products, tickets]", "source.tables[2]", "duplicate table 'tickets'")]
    public void Tables_must_be_a_non_empty_list_of_distinct_names(string line, string field, string fragment)
    {
        var error = SingleError(With(TablesLine, "  " + line));

        Assert.Equal((field, 6), (error.Field, error.Line));
        Assert.Contains(fragment, error.Message);
    }

    [Theory]
    [InlineData("id: Demo", "id")]
    [InlineData("id: ab", "id")]
    [InlineData("id: 1demo", "id")]
    [InlineData("id: demo_retail", "id")]
    [InlineData("id: a234567890123456789012345678901234567890123456789012345678901234", "id")]
    public void Ids_break_the_name_rule(string line, string field)
    {
        var error = SingleError(With("id: demo-retail", line));

        Assert.Equal((field, 1, 5), (error.Field, error.Line, error.Column));
        Assert.StartsWith("must be 3 to 63 characters of lowercase letters, digits and '-'", error.Message);
    }

    [Theory]
    [InlineData("1.0", "transform.version", "semantic version")]
    [InlineData("01.0.0", "transform.version", "semantic version")]
    [InlineData("1.0.0+build.5", "transform.version", "semantic version")]
    public void Versions_must_be_semantic(string value, string field, string fragment)
    {
        var error = SingleError(With("version: 1.0.0", $"version: {value}"));

        Assert.Equal((field, 9), (error.Field, error.Line));
        Assert.Contains(fragment, error.Message);
    }

    [Fact]
    public void Package_and_type_names_are_checked()
    {
        var errors = Errors(With("package: RetailStreaming.Samples.Retail", "package: Retail Streaming")
            .Replace("type: RetailStreaming.Samples.Retail.RetailTransform", "type: Retail..Transform"));

        Assert.Collection(errors,
            e => Assert.Equal(("transform.package", 8), (e.Field, e.Line)),
            e => Assert.Equal(("transform.type", 10), (e.Field, e.Line)));
    }

    [Fact]
    public void A_nested_setting_value_is_a_type_error()
    {
        var error = SingleError(With("  version: 1.0.0", "  version: 1.0.0\n  settings:\n    currency: [EUR, USD]"));

        Assert.Equal(("transform.settings.currency", 11, 15), (error.Field, error.Line, error.Column));
        Assert.Equal("expected a text value, found a list", error.Message);
    }

    [Fact]
    public void An_alias_to_no_anchor_is_reported()
    {
        var error = SingleError(With("client: acme", "client: *owner"));

        Assert.Equal(2, error.Line);
        Assert.Contains("*owner", error.Message);
    }

    [Fact]
    public void Deep_nesting_is_a_quick_error_not_a_crash()
    {
        var yaml = With("  version: 1.0.0", "  version: 1.0.0\n  settings: " + new string('[', 100_000) + new string(']', 100_000));
        var clock = System.Diagnostics.Stopwatch.StartNew();

        var error = SingleError(yaml);

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.Equal(("<yaml>", 10), (error.Field, error.Line));
        Assert.Contains("nested deeper than 32 levels", error.Message);
    }

    [Fact]
    public void An_oversized_file_is_rejected_before_parsing()
    {
        var error = SingleError(Valid + "#" + new string('x', 2 << 20) + "\n");

        Assert.Equal(("<document>", 1, 1), (error.Field, error.Line, error.Column));
        Assert.Contains("at most", error.Message);
    }

    [Fact]
    public void A_byte_order_mark_left_in_the_text_is_ignored()
    {
        Assert.Equal("demo-retail", WorkflowDefinitionReader.Parse("\uFEFF" + Valid).Id);
    }

    [Fact]
    public void A_complex_key_is_rejected()
    {
        var error = SingleError(With("id: demo-retail", "? [a]\n: b\nid: demo-retail"));

        Assert.Equal(("<document>", 1, 3), (error.Field, error.Line, error.Column));
        Assert.Equal("expected a field name, found a list", error.Message);
    }

    [Fact]
    public void Several_errors_are_reported_together_in_file_order()
    {
        var yaml =
            """
            id: Demo
            client: acme
            delivery:
              kind: webhook
              url: localhost:5080
              secretRef: env:DEMO_WEBHOOK_SECRET
              secret: whsec_abc
              batching: { maxRecords: 0, maxWait: soon }
            source:
              kind: mysql
              connection: "Data Source=/data/retail.db"
              tables: [tickets, tickets]
              batchsize: 10
            transform:
              package: RetailStreaming.Samples.Retail
              type: RetailStreaming.Samples.Retail.RetailTransform
            id: again
            """;

        var errors = Errors(yaml);

        string[] expected =
        [
            "workflow.yaml:1:5: id: must be 3 to 63",
            "workflow.yaml:5:8: delivery.url: malformed URL",
            "workflow.yaml:7:3: delivery.secret: inline secrets are not allowed",
            "workflow.yaml:8:27: delivery.batching.maxRecords: must be from 1 to 10000",
            "workflow.yaml:8:39: delivery.batching.maxWait: malformed duration",
            "workflow.yaml:10:9: source.kind: unknown source kind 'mysql'",
            "workflow.yaml:12:21: source.tables[1]: duplicate table 'tickets'",
            "workflow.yaml:13:3: source.batchsize: unknown field; did you mean 'batchSize'?",
            "workflow.yaml:14:1: transform.version: is required",
            "workflow.yaml:17:1: id: duplicate field; first set at line 1",
        ];
        Assert.Equal(expected.Length, errors.Count);
        Assert.All(expected.Zip(errors), pair => Assert.StartsWith(pair.First, pair.Second.ToString()));
    }
}
