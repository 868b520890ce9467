namespace RetailStreaming.Cli.Tests;

/// <summary>rsctl's own parts without a node: the command line, tables, the unified diff, contexts.</summary>
public sealed class CommandLineTests
{
    [Fact]
    public void Options_stand_anywhere_in_both_forms_and_flags_take_no_value()
    {
        var line = CommandLine.Parse(["workflow", "--node=http://n:1", "apply", "-f", "a.yaml", "--json", "--token", "t"]);

        Assert.Equal(["workflow", "apply"], line.Words);
        Assert.Equal("http://n:1", line.Option("node"));
        Assert.Equal("a.yaml", line.Option("file"));
        Assert.Equal("t", line.Option("token"));
        Assert.True(line.Flag("json"));
        Assert.False(line.Flag("help"));
    }

    [Fact]
    public void An_option_without_its_value_and_an_unknown_option_are_usage_errors()
    {
        Assert.Equal(ExitCodes.Usage, Assert.Throws<CliException>(() => CommandLine.Parse(["workflow", "apply", "-f"])).ExitCode);
        var line = CommandLine.Parse(["cluster", "show", "--frob", "x"]);
        var e = Assert.Throws<CliException>(() => line.RejectUnknown(2, "rsctl cluster show"));
        Assert.Equal(ExitCodes.Usage, e.ExitCode);
        Assert.Contains("--frob", e.Message);
    }

    [Fact]
    public void A_table_pads_every_column_to_its_widest_cell()
    {
        var output = new StringWriter { NewLine = "\n" };
        new Output.Table("ID", "STATE").Add("a-long-id", "running").Add("b", null).Write(output, "Count: 2");

        Assert.Equal("ID        | STATE\na-long-id | running\nb         |\nCount: 2\n", output.ToString());
    }

    [Fact]
    public void The_diff_is_unified_with_three_lines_of_context_as_diff_u_prints_it()
    {
        var before = string.Join('\n', Enumerable.Range(1, 14).Select(i => $"line {i}")) + "\n";
        var after = before.Replace("line 6\n", "line six\n") + "line 15\n";

        var diff = UnifiedDiff.Lines(before, after, "a v1", "b.yaml");

        Assert.Equal(
        [
            "--- a v1", "+++ b.yaml",
            "@@ -3,7 +3,7 @@", " line 3", " line 4", " line 5", "-line 6", "+line six", " line 7", " line 8", " line 9",
            "@@ -12,3 +12,4 @@", " line 12", " line 13", " line 14", "+line 15",
        ], diff);
        // Changes up to six unchanged lines apart share one hunk.
        Assert.Single(UnifiedDiff.Lines(before, before.Replace("line 6\n", "line six\n").Replace("line 13\n", "line thirteen\n"), "a", "b"),
            l => l.StartsWith("@@", StringComparison.Ordinal));
        Assert.Empty(UnifiedDiff.Lines(before, before.ReplaceLineEndings("\r\n"), "a", "b"));
    }

    [Fact]
    public void The_workflow_id_of_a_file_is_its_top_level_id()
    {
        Assert.Equal("orders", Commands.WorkflowCommands.IdOf("# c\nid: orders   # the id\nclient: acme\n"));
        Assert.Equal("q", Commands.WorkflowCommands.IdOf("client: a\nid: \"q\"\n"));
        Assert.Null(Commands.WorkflowCommands.IdOf("source:\n  id: nested\n"));
    }

    [Fact]
    public async Task Contexts_are_added_used_and_listed_and_the_file_is_private()
    {
        var dir = Path.Combine(Path.GetTempPath(), "rs-cli-contexts-" + Guid.NewGuid().ToString("N"));
        try
        {
            var config = Path.Combine(dir, "config.json");
            Assert.Equal(0, (await Support.CliNode.RunRsctlAsync(["context", "add", "staging", "--node", "http://s:1", "--token", "secret-s"], config, dir)).ExitCode);
            Assert.Equal(0, (await Support.CliNode.RunRsctlAsync(["context", "add", "production", "--node", "http://p:1"], config, dir)).ExitCode);
            Assert.Equal(0, (await Support.CliNode.RunRsctlAsync(["context", "use", "production"], config, dir)).ExitCode);

            var list = await Support.CliNode.RunRsctlAsync(["context", "list"], config, dir);

            Assert.Contains("production * | http://p:1 | -", list.Out);
            Assert.Contains("staging      | http://s:1 | set", list.Out);
            Assert.DoesNotContain("secret-s", list.Out);
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config));
            var missing = await Support.CliNode.RunRsctlAsync(["context", "use", "nowhere"], config, dir);
            Assert.Equal(ExitCodes.NotFoundOrNotAllowed, missing.ExitCode);
            // No node given and no context in use: a usage error that says what to do.
            var none = await Support.CliNode.RunRsctlAsync(["cluster", "show"], Path.Combine(dir, "none.json"), dir);
            Assert.Equal(ExitCodes.Usage, none.ExitCode);
            Assert.Contains("--node", none.Error);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
