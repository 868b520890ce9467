// Each test class starts real nodes (actor system, Kestrel, SQLite) on 2 cores: one at a time,
// so that drains and deliveries are not starved by another test's node.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
