using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using RetailStreaming.Connectors.Files;
using RetailStreaming.Connectors.Tests.FileSinkWriter;
using RetailStreaming.Transforms;

namespace RetailStreaming.Connectors.Tests.Files;

public sealed class NdjsonFileSinkTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("rs-file-sink-").FullName;

    private static List<DeliveryRecord> Records(string workflowId, long first, long last) =>
        [.. Enumerable.Range((int)first, (int)(last - first + 1)).Select(n => FileSinkRecords.Record(workflowId, n))];

    private static async Task DeliverAsync(NdjsonFileSink sink, IReadOnlyList<DeliveryRecord> records, int batchSize)
    {
        foreach (var batch in records.Chunk(batchSize))
        {
            var result = await sink.DeliverAsync(batch, CancellationToken.None);
            Assert.Empty(result.Refused);
        }
    }

    private string[] Completed(string workflowId) =>
        [.. Directory.GetFiles(_directory, workflowId + "-*.ndjson").Order(StringComparer.Ordinal)];

    private string[] Temporary() => Directory.GetFiles(_directory, "*.tmp");

    /// <summary>Every line of the completed files in name order; each file must be whole (complete JSON lines).</summary>
    private List<string> CompletedLines(string workflowId)
    {
        var lines = new List<string>();
        foreach (var file in Completed(workflowId))
        {
            var text = File.ReadAllText(file);
            Assert.True(text.Length > 0 && text.EndsWith('\n'), $"{Path.GetFileName(file)} is empty or ends within a line");
            foreach (var line in text[..^1].Split('\n'))
            {
                using var _ = JsonDocument.Parse(line); // throws on a partial line
                lines.Add(line);
            }
        }
        return lines;
    }

    private static long NumberOf(string line)
    {
        using var json = JsonDocument.Parse(line);
        return json.RootElement.GetProperty("data").GetProperty("n").GetInt64();
    }

    /// <summary>The exact line the sink writes for record n.</summary>
    private static string ExpectedLine(string workflowId, long n) =>
        Encoding.UTF8.GetString(NdjsonFileSink.Serialize([FileSinkRecords.Record(workflowId, n)])).TrimEnd('\n');

    [Fact]
    public async Task Records_are_lines_in_files_rolled_by_size_whose_names_sort_in_delivery_order()
    {
        const string wf = "sized";
        await using (var sink = new NdjsonFileSink(new FileSinkOptions(wf, _directory) { RollSize = 2048, RollInterval = TimeSpan.FromHours(1) }))
            await DeliverAsync(sink, Records(wf, 1, 300), batchSize: 5);

        Assert.Empty(Temporary());
        var files = Completed(wf);
        Assert.True(files.Length > 5, $"only {files.Length} files for 300 records with a 2 KB roll size");
        Assert.Equal(NdjsonFileSink.FileName(wf, 1), Path.GetFileName(files[0]));
        foreach (var file in files[..^1])
        {
            // A file is completed at the batch that reaches the roll size; it never takes a batch that would overflow it.
            var length = new FileInfo(file).Length;
            Assert.InRange(length, 1, 2048);
        }
        Assert.Equal(Enumerable.Range(1, 300).Select(n => ExpectedLine(wf, n)), CompletedLines(wf));
    }

    [Fact]
    public async Task A_file_is_completed_after_the_roll_interval_without_further_records()
    {
        const string wf = "timed";
        await using var sink = new NdjsonFileSink(new FileSinkOptions(wf, _directory) { RollInterval = TimeSpan.FromMilliseconds(300) });
        await DeliverAsync(sink, Records(wf, 1, 3), batchSize: 3);
        Assert.Single(Temporary());
        Assert.Empty(Completed(wf));

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (Completed(wf).Length == 0 && DateTime.UtcNow < deadline)
            await Task.Delay(25);
        Assert.Equal(Enumerable.Range(1, 3).Select(n => ExpectedLine(wf, n)), CompletedLines(wf));
        Assert.Empty(Temporary());

        // The next batch starts the next file.
        await DeliverAsync(sink, Records(wf, 4, 4), batchSize: 1);
        Assert.EndsWith(NdjsonFileSink.FileName(wf, 2) + ".tmp", Assert.Single(Temporary()));
    }

    [Fact]
    public async Task A_start_completes_the_whole_lines_of_an_interrupted_file_and_drops_the_cut_one()
    {
        const string wf = "recover";
        var lines = Enumerable.Range(1, 3).Select(n => ExpectedLine(wf, n)).ToList();
        var interrupted = Path.Combine(_directory, NdjsonFileSink.FileName(wf, 7) + ".tmp");
        await File.WriteAllTextAsync(interrupted, lines[0] + "\n" + lines[1] + "\n" + lines[2][..20]);
        // A file of another workflow in the same directory is left alone.
        var other = Path.Combine(_directory, NdjsonFileSink.FileName("recover-eu", 1) + ".tmp");
        await File.WriteAllTextAsync(other, lines[0][..10]);
        // A file cut to nothing whole is removed.
        await File.WriteAllTextAsync(Path.Combine(_directory, NdjsonFileSink.FileName(wf, 8) + ".tmp"), "{\"id\":");

        await using (var sink = new NdjsonFileSink(new FileSinkOptions(wf, _directory)))
        {
            await sink.OpenAsync(CancellationToken.None);
            Assert.Equal([other], Temporary());
            Assert.Equal([Path.Combine(_directory, NdjsonFileSink.FileName(wf, 7))], Completed(wf));
            Assert.Equal(lines[..2], CompletedLines(wf));
            // The sequence goes on after the highest one seen, recovered or not.
            await DeliverAsync(sink, Records(wf, 3, 4), batchSize: 2);
        }

        Assert.Equal([NdjsonFileSink.FileName(wf, 7), NdjsonFileSink.FileName(wf, 9)], Completed(wf).Select(Path.GetFileName));
        Assert.Equal(Enumerable.Range(1, 4).Select(n => ExpectedLine(wf, n)), CompletedLines(wf));
    }

    [Fact]
    public void The_valid_prefix_spans_reads_and_ends_before_the_first_line_that_is_not_one_json_object()
    {
        var big = "{\"a\":\"" + new string('x', 200_000) + "\"}"; // longer than one read
        var text = big + "\n{\"b\":1}\n{\"c\":2} trailing\n{\"d\":3}\n";
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(text));

        Assert.Equal(big.Length + 1 + "{\"b\":1}\n".Length, NdjsonFileSink.ValidPrefixLength(stream));
        using var array = new MemoryStream("[1]\n"u8.ToArray());
        Assert.Equal(0, NdjsonFileSink.ValidPrefixLength(array));
    }

    [Fact]
    public async Task The_sequence_keeps_growing_when_readers_remove_completed_files()
    {
        const string wf = "consumed";
        await using (var sink = new NdjsonFileSink(new FileSinkOptions(wf, _directory)))
            await DeliverAsync(sink, Records(wf, 1, 2), batchSize: 2);
        foreach (var file in Completed(wf)) File.Delete(file);

        await using (var sink = new NdjsonFileSink(new FileSinkOptions(wf, _directory)))
            await DeliverAsync(sink, Records(wf, 3, 4), batchSize: 2);
        Assert.Equal([NdjsonFileSink.FileName(wf, 2)], Completed(wf).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_second_writer_of_the_same_workflow_and_directory_is_refused_while_the_first_is_open()
    {
        const string wf = "locked";
        await using var first = new NdjsonFileSink(new FileSinkOptions(wf, _directory));
        await DeliverAsync(first, Records(wf, 1, 1), batchSize: 1);

        await using (var second = new NdjsonFileSink(new FileSinkOptions(wf, _directory)))
        {
            var error = await Assert.ThrowsAsync<IOException>(() => second.DeliverAsync(Records(wf, 2, 2), CancellationToken.None));
            Assert.Contains("in use by another writer of workflow 'locked'", error.Message);
        }

        // Another workflow shares the directory freely.
        await using var other = new NdjsonFileSink(new FileSinkOptions("locked-eu", _directory));
        await DeliverAsync(other, Records("locked-eu", 1, 1), batchSize: 1);
    }

    [Fact]
    public async Task A_writer_killed_mid_stream_leaves_whole_files_and_a_restart_covers_every_record()
    {
        const string wf = "killed";
        const int rollSize = 4096;
        var (acked, stderr) = await RunAndKillWriterAsync(wf, ackedAtLeast: 1500, batchSize: 7, rollSize);

        // What SIGKILL left: completed files are whole (CompletedLines checks every line); every
        // acknowledged record is durable, in a completed file or in the interrupted .tmp file.
        var durable = CompletedLines(wf).Select(NumberOf).ToHashSet();
        foreach (var tmp in Temporary())
        {
            await using var stream = File.OpenRead(tmp);
            var valid = NdjsonFileSink.ValidPrefixLength(stream);
            var text = Encoding.UTF8.GetString((await File.ReadAllBytesAsync(tmp))[..(int)valid]);
            durable.UnionWith(text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(NumberOf));
        }
        var missing = Enumerable.Range(1, (int)acked).Where(n => !durable.Contains(n)).ToList();
        Assert.True(missing.Count == 0, $"acknowledged records missing after the kill: {string.Join(",", missing.Take(20))}; writer stderr: {stderr}");

        // The restart, as the workflow runs it: from a checkpoint at or before the last acknowledged record,
        // to past every record on disk. The killed writer went on writing after the acknowledgement read
        // here (the pipe holds its later ones): what it made durable before the kill, unacknowledged,
        // is kept and the restart writes it again (a duplicate after the checkpoint, same content).
        var checkpoint = acked - 23;
        var last = Math.Max(acked + 200, durable.Max() + 50);
        await using (var sink = new NdjsonFileSink(new FileSinkOptions(wf, _directory) { RollSize = rollSize }))
            await DeliverAsync(sink, Records(wf, checkpoint + 1, last), batchSize: 11);

        Assert.Empty(Temporary());
        var lines = CompletedLines(wf);
        var firsts = new List<long>();
        var seen = new HashSet<long>();
        foreach (var line in lines)
        {
            var n = NumberOf(line);
            // A duplicate is the same record: same idempotency key, same content.
            Assert.Equal(ExpectedLine(wf, n), line);
            if (seen.Add(n)) firsts.Add(n);
            else Assert.True(n > checkpoint, $"record {n} written twice, though it is not after the checkpoint {checkpoint}");
        }
        Assert.Equal(Enumerable.Range(1, (int)last).Select(n => (long)n), firsts);
    }

    /// <summary>Starts the writer program, reads its acknowledgements until <paramref name="ackedAtLeast"/>, then SIGKILLs it.</summary>
    private async Task<(long Acked, string Stderr)> RunAndKillWriterAsync(string workflowId, long ackedAtLeast, int batchSize, int rollSize)
    {
        var psi = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { WriterDll(), _directory, workflowId, "1", "100000000", batchSize.ToString(CultureInfo.InvariantCulture), rollSize.ToString(CultureInfo.InvariantCulture) })
            psi.ArgumentList.Add(argument);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("the writer did not start");
        var stderr = process.StandardError.ReadToEndAsync();
        long acked = 0;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            while (acked < ackedAtLeast)
            {
                var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
                if (line is null)
                    throw new InvalidOperationException($"the writer ended after acknowledging {acked}: {await stderr}");
                if (line.StartsWith("acked ", StringComparison.Ordinal))
                    acked = long.Parse(line.AsSpan(6), CultureInfo.InvariantCulture);
            }
        }
        finally
        {
            process.Kill(); // SIGKILL: no dispose, no completion of the current file
            await process.WaitForExitAsync();
        }
        Assert.NotEqual(0, process.ExitCode);
        return (acked, await stderr);
    }

    /// <summary>The writer program's build output: tests/RetailStreaming.Connectors.Tests/FileSinkWriter/bin/&lt;configuration&gt;/&lt;tfm&gt;/.</summary>
    private static string WriterDll()
    {
        var configuration = typeof(NdjsonFileSinkTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "RetailStreaming.sln"))) continue;
            var dll = Path.Combine(dir.FullName, "tests", "RetailStreaming.Connectors.Tests", "FileSinkWriter", "bin", configuration, framework,
                "RetailStreaming.Connectors.Tests.FileSinkWriter.dll");
            return File.Exists(dll)
                ? dll
                : throw new InvalidOperationException($"The file sink writer program is not built: {dll} is missing. Build the tests first (dotnet build RetailStreaming.sln -c {configuration}).");
        }
        throw new InvalidOperationException($"Cannot find the repository root (RetailStreaming.sln) above {AppContext.BaseDirectory}.");
    }

    private static string DotnetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host))
            return host;
        return Environment.ProcessPath is { } current && Path.GetFileNameWithoutExtension(current) == "dotnet" ? current : "dotnet";
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // The OS temp cleaner takes it.
        }
    }
}
