using RetailStreaming.Cli;

// rsctl: see `rsctl help` and the README's Operations section.
return await Rsctl.RunAsync(args, CliEnvironment.FromProcess());
