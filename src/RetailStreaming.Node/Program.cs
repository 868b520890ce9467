Console.WriteLine("RetailStreaming node: not yet wired");
