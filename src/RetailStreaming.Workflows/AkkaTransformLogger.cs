using Akka.Event;
using RetailStreaming.Transforms;

namespace RetailStreaming.Workflows;

/// <summary>A transform's logger over the workflow's Akka logger, so transform lines carry WorkflowId, ClientId and TransformVersion.</summary>
internal sealed class AkkaTransformLogger(ILoggingAdapter log) : ITransformLogger
{
    public void Debug(string messageTemplate, params object?[] values) => log.Debug(messageTemplate, values!);

    public void Info(string messageTemplate, params object?[] values) => log.Info(messageTemplate, values!);

    public void Warning(string messageTemplate, params object?[] values) => log.Warning(messageTemplate, values!);
}
