using System.Text.Json;
using Akka.Actor;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using RetailStreaming.Node.Admin;

namespace RetailStreaming.Node.Tests;

/// <summary>An admin call that throws gets an answer that says what happened, not a bare 500.</summary>
public sealed class AdminFailuresTests
{
    [Fact]
    public async Task A_workflow_that_does_not_answer_in_time_gives_504_saying_the_call_may_still_take_effect()
    {
        var (status, body) = await RunAsync(_ => throw new AskTimeoutException("Timeout after 60 seconds"));

        Assert.Equal(504, status);
        Assert.Equal("no answer in time", body.GetProperty("error").GetString());
        Assert.Contains("Timeout after 60 seconds", body.GetProperty("detail").GetString());
        Assert.Contains("may still take effect", body.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Any_other_exception_gives_500_with_its_type_and_message()
    {
        var (status, body) = await RunAsync(_ => throw new InvalidOperationException("the registry is closed"));

        Assert.Equal(500, status);
        Assert.Equal("internal error", body.GetProperty("error").GetString());
        Assert.Equal("InvalidOperationException: the registry is closed (the node's log has the stack trace)", body.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task A_call_that_answers_passes_through_unchanged()
    {
        var (status, body) = await RunAsync(_ => ValueTask.FromResult<object?>(Results.Ok(new { fine = true })));

        Assert.Equal(200, status);
        Assert.True(body.GetProperty("fine").GetBoolean());
    }

    private static async Task<(int Status, JsonElement Body)> RunAsync(EndpointFilterDelegate next)
    {
        var services = new ServiceCollection().AddLogging().AddSingleton<Microsoft.Extensions.Logging.ILoggerFactory>(NullLoggerFactory.Instance).BuildServiceProvider();
        var http = new DefaultHttpContext { RequestServices = services };
        http.Request.Method = "POST";
        http.Request.Path = "/api/workflows";
        var body = new MemoryStream();
        http.Response.Body = body;

        var result = await AdminFailures.InvokeAsync(new DefaultEndpointFilterInvocationContext(http), next);

        await Assert.IsAssignableFrom<IResult>(result).ExecuteAsync(http);
        return (http.Response.StatusCode, JsonDocument.Parse(body.ToArray()).RootElement.Clone());
    }
}
