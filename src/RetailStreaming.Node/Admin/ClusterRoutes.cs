using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using static RetailStreaming.Node.Admin.AdminApi;

namespace RetailStreaming.Node.Admin;

/// <summary>A cluster member's address, as <c>akka.tcp://retailstreaming@host:port</c> or <c>host:port</c>.</summary>
/// <param name="Address">The address.</param>
public sealed record AddressRequest(string? Address);

/// <summary>
/// The <c>/api/cluster</c> and <c>/api/sharding</c> routes (operators only): membership as this
/// node's cluster state sees it (the gossip every member converges on), leave, down and join, and
/// the shard regions and their shards and entities, asked of the shard coordinator through the
/// region: every node answers for the whole cluster.
/// </summary>
internal static class ClusterRoutes
{
    private static readonly TimeSpan StatsTimeout = TimeSpan.FromSeconds(5);

    public static void MapClusterRoutes(this RouteGroupBuilder api)
    {
        var cluster = api.MapGroup("/cluster").OperatorOnly();

        cluster.MapGet("", (ActorSystem system) =>
        {
            var c = Cluster.Get(system);
            var state = c.State;
            var unreachable = state.Unreachable.Select(m => m.UniqueAddress).ToHashSet();
            return Results.Ok(new
            {
                self = c.SelfAddress.ToString(),
                leader = state.Leader?.ToString(),
                members = state.Members.Select(m => new
                {
                    address = m.Address.ToString(),
                    roles = m.Roles.Order(StringComparer.Ordinal).ToArray(),
                    status = m.Status.ToString(),
                    reachability = unreachable.Contains(m.UniqueAddress) ? "unreachable" : "reachable",
                    appVersion = m.AppVersion.ToString(),
                    leader = m.Address.Equals(state.Leader),
                    self = m.Address.Equals(c.SelfAddress),
                }),
                unreachable = unreachable.Count,
            });
        });

        cluster.MapGet("/events", (HttpContext http, ActorSystem system, IHostApplicationLifetime lifetime) =>
            ClusterEventStream.StreamAsync(http, system, lifetime));

        cluster.MapPost("/leave", (AddressRequest request, ActorSystem system) =>
            MembershipChange(request, system, "leave", (c, a) => c.Leave(a)));
        cluster.MapPost("/down", (AddressRequest request, ActorSystem system) =>
            MembershipChange(request, system, "down", (c, a) => c.Down(a)));
        // pbm's down-unreachable: every member this node's cluster state holds unreachable.
        cluster.MapPost("/down-unreachable", (ActorSystem system) =>
        {
            var c = Cluster.Get(system);
            var downed = c.State.Unreachable.Select(m => m.Address).ToList();
            foreach (var address in downed) c.Down(address);
            return Results.Json(new { action = "down-unreachable", downed = downed.Select(a => a.ToString()) }, statusCode: 202);
        });
        cluster.MapPost("/join", (AddressRequest request, ActorSystem system) =>
        {
            if (!TryParseAddress(request.Address, system, out var address, out var problem))
                return problem;
            Cluster.Get(system).Join(address);
            return Results.Json(new { address = address.ToString(), action = "join", accepted = true }, statusCode: 202);
        });

        var sharding = api.MapGroup("/sharding").OperatorOnly();

        sharding.MapGet("/regions", async (ActorSystem system, HttpContext http) =>
        {
            var sharding = ClusterSharding.Get(system);
            var regions = new List<object>();
            foreach (var typeName in sharding.ShardTypeNames.Order(StringComparer.Ordinal))
            {
                var current = await sharding.ShardRegion(typeName).Ask<CurrentRegions>(GetCurrentRegions.Instance, StatsTimeout, http.RequestAborted);
                regions.Add(new
                {
                    typeName,
                    regions = current.Regions.Select(a => a.HasGlobalScope ? a : Cluster.Get(system).SelfAddress)
                        .Select(a => a.ToString()).Order(StringComparer.Ordinal).ToArray(),
                });
            }
            return Results.Ok(regions);
        });

        sharding.MapGet("/stats", async (ActorSystem system, HttpContext http) =>
        {
            var sharding = ClusterSharding.Get(system);
            var types = new List<object>();
            foreach (var typeName in sharding.ShardTypeNames.Order(StringComparer.Ordinal))
            {
                var stats = await sharding.ShardRegion(typeName).Ask<ClusterShardingStats>(
                    new GetClusterShardingStats(StatsTimeout), StatsTimeout + TimeSpan.FromSeconds(2), http.RequestAborted);
                var nodes = stats.Regions
                    .Select(r => new
                    {
                        address = (r.Key.HasGlobalScope ? r.Key : Cluster.Get(system).SelfAddress).ToString(),
                        shards = r.Value.Stats.Count,
                        entities = r.Value.Stats.Values.Sum(),
                        failedShards = r.Value.Failed.Order(StringComparer.Ordinal).ToArray(),
                        entitiesPerShard = r.Value.Stats.OrderBy(s => s.Key, StringComparer.Ordinal).ToDictionary(s => s.Key, s => s.Value),
                    })
                    .OrderBy(n => n.address, StringComparer.Ordinal)
                    .ToList();
                types.Add(new { typeName, shards = nodes.Sum(n => n.shards), entities = nodes.Sum(n => n.entities), nodes });
            }
            return Results.Ok(types);
        });
    }

    private static IResult MembershipChange(AddressRequest request, ActorSystem system, string action, Action<Cluster, Address> change)
    {
        if (!TryParseAddress(request.Address, system, out var address, out var problem))
            return problem;
        var cluster = Cluster.Get(system);
        if (cluster.State.Members.All(m => !m.Address.Equals(address)))
            return Problem(404, "no such member", $"{address} is not a member of this cluster; see GET /api/cluster.");
        change(cluster, address);
        return Results.Json(new { address = address.ToString(), action, accepted = true }, statusCode: 202);
    }

    /// <summary>A full address, or <c>host:port</c> completed with this node's protocol and system name.</summary>
    private static bool TryParseAddress(string? text, ActorSystem system, out Address address, out IResult problem)
    {
        address = null!;
        problem = null!;
        text = text?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            problem = Problem(400, "missing address", "Send {\"address\": \"akka.tcp://retailstreaming@host:port\"} (or \"host:port\").");
            return false;
        }
        try
        {
            if (text.Contains("://", StringComparison.Ordinal))
            {
                address = Address.Parse(text);
            }
            else
            {
                var self = Cluster.Get(system).SelfAddress;
                var colon = text.LastIndexOf(':');
                if (colon <= 0 || !int.TryParse(text[(colon + 1)..], out var port))
                    throw new UriFormatException($"'{text}' is neither an actor system address nor host:port");
                address = new Address(self.Protocol, self.System, text[..colon], port);
            }
            return true;
        }
        catch (Exception e) when (e is UriFormatException or ArgumentException or FormatException)
        {
            problem = Problem(400, "invalid address", $"'{text}' is not an address: use akka.tcp://retailstreaming@host:port or host:port ({e.Message}).");
            return false;
        }
    }
}
