namespace RetailStreaming.Integration.Tests.Harness;

/// <summary>Polls a condition until it holds or a bounded time is over.</summary>
public static class Eventually
{
    /// <summary>
    /// Waits until <paramref name="condition"/> is true; after <paramref name="timeout"/> fails
    /// with <paramref name="what"/> and the state <paramref name="describe"/> gives (e.g. a node's output tail).
    /// </summary>
    public static async Task UntilAsync(string what, TimeSpan timeout, Func<Task<bool>> condition, Func<string> describe, TimeSpan? every = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        var poll = every ?? TimeSpan.FromMilliseconds(200);
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await condition()) return;
                last = null;
            }
            catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException or IOException)
            {
                last = e; // e.g. the node restarting: asked again at the next poll
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException(
                    $"Timed out after {timeout.TotalSeconds:0}s waiting until {what}." +
                    (last is null ? "" : $"\nLast error: {last.GetType().Name}: {last.Message}") +
                    $"\n{describe()}");
            await Task.Delay(poll);
        }
    }

    /// <summary>As above with a synchronous condition.</summary>
    public static Task UntilAsync(string what, TimeSpan timeout, Func<bool> condition, Func<string> describe, TimeSpan? every = null) =>
        UntilAsync(what, timeout, () => Task.FromResult(condition()), describe, every);
}
