#!/usr/bin/env bash
# A RetailStreaming cluster as processes on one machine (README "Operations" > "A cluster on one machine").
#
#   scripts/cluster.sh start [N]     build, then start N nodes (default 3) against one PostgreSQL
#   scripts/cluster.sh add           start one more node (it joins through the seeds; shards move to it)
#   scripts/cluster.sh status        each node's process, readiness and the cluster's members
#   scripts/cluster.sh leave I       SIGTERM node I: it hands its workflows off (drain, checkpoint), leaves, exits
#   scripts/cluster.sh kill I        SIGKILL node I (a crash): the others down it and restart its workflows
#   scripts/cluster.sh restart I     start node I again on its data directory
#   scripts/cluster.sh stop          SIGTERM every node, newest first, then stop the PostgreSQL it started
#
# Journal, snapshots and platform store: RS_JOURNAL_DB (a PostgreSQL connection string; RS_STORE_DB,
# default the same). Without it the script runs its own PostgreSQL in $RS_CLUSTER_DIR/pg (the server
# binaries of /usr/lib/postgresql/*/bin or PG_BIN; as the postgres user when run as root).
# Node I (1-based) listens on Akka port 4052+I and admin port 5169+I (RS_AKKA_PORT_BASE, RS_ADMIN_PORT_BASE
# move them); the seed nodes are the first three (RS_SEED_NODES, as the container files use). Each
# node's files and log are in $RS_CLUSTER_DIR/nodeI (default .cluster/). RS_NODE_DLL runs another build's
# node (no build then): a rolling upgrade starts the old build with it, then adds nodes of this build
# without it and lets the old ones leave; status shows each member's app-version (its build).
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${RS_CLUSTER_DIR:-$PWD/.cluster}"
akka_base="${RS_AKKA_PORT_BASE:-4052}"
admin_base="${RS_ADMIN_PORT_BASE:-5169}"
configuration="${CONFIGURATION:-Release}"
node_dll="${RS_NODE_DLL:-$PWD/src/RetailStreaming.Node/bin/$configuration/net10.0/RetailStreaming.Node.dll}"
seeds=3

die() { echo "cluster.sh: $*" >&2; exit 1; }
akka_port() { echo $((akka_base + $1)); }
admin_port() { echo $((admin_base + $1)); }
node_dir() { echo "$dir/node$1"; }
pid_of() { local f; f="$(node_dir "$1")/pid"; [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; }
node_count() { local n=0; while [[ -d $(node_dir $((n + 1))) ]]; do n=$((n + 1)); done; echo "$n"; }
seed_list() {
  local list="" i
  for ((i = 1; i <= seeds; i++)); do list+="${list:+,}akka.tcp://retailstreaming@127.0.0.1:$(akka_port "$i")"; done
  echo "$list"
}

pg_bin() {
  if [[ -n ${PG_BIN:-} ]]; then echo "$PG_BIN"; return; fi
  local candidate
  candidate="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [[ -x $candidate/initdb ]] || die "RS_JOURNAL_DB is not set and no PostgreSQL server binaries were found (/usr/lib/postgresql/*/bin or PG_BIN)."
  echo "$candidate"
}
as_pg() { if [[ $(id -u) == 0 ]]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }

start_postgres() {
  local bin port=${RS_PG_PORT:-55432}
  bin="$(pg_bin)"
  mkdir -p "$dir"
  if [[ ! -d $dir/pg/data ]]; then
    mkdir -p "$dir/pg"
    [[ $(id -u) == 0 ]] && chown postgres "$dir/pg" && chmod 711 "$dir"
    as_pg "'$bin/initdb' -D '$dir/pg/data' -U postgres --auth=trust >'$dir/pg/initdb.log'"
    cat >>"$dir/pg/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/pg'
max_connections = 200
wal_level = logical
EOF
  fi
  if ! as_pg "'$bin/pg_ctl' -D '$dir/pg/data' status" >/dev/null 2>&1; then
    as_pg "'$bin/pg_ctl' -D '$dir/pg/data' -l '$dir/pg/server.log' -w start" >/dev/null
    as_pg "'$bin/psql' -h 127.0.0.1 -p $port -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname = 'retailstreaming'\"" | grep -q 1 ||
      as_pg "'$bin/createdb' -h 127.0.0.1 -p $port -U postgres retailstreaming"
  fi
  echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=retailstreaming" >"$dir/pg/connection"
}

journal_db() {
  if [[ -n ${RS_JOURNAL_DB:-} ]]; then echo "$RS_JOURNAL_DB"; return; fi
  [[ -f $dir/pg/connection ]] || die "no PostgreSQL: set RS_JOURNAL_DB or run 'start' first."
  cat "$dir/pg/connection"
}

start_node() {
  local i=$1 ndir journal
  ndir="$(node_dir "$i")"
  [[ -n $(pid_of "$i") ]] && { echo "node$i already runs (pid $(pid_of "$i"))"; return; }
  [[ -f $node_dll ]] || die "$node_dll is missing; run 'start' (it builds) or set RS_NODE_DLL."
  mkdir -p "$ndir"
  journal="$(journal_db)"
  # The node's own directory as working directory: relative paths in its settings land there.
  (
    cd "$ndir"
    RS_ENVIRONMENT="${RS_ENVIRONMENT:-local}" \
    RS_SEED_NODES="$(seed_list)" \
    RetailStreaming__Node__DataDirectory="$ndir" \
    RetailStreaming__Node__Hostname=127.0.0.1 \
    RetailStreaming__Node__Port="$(akka_port "$i")" \
    RetailStreaming__Admin__Url="http://127.0.0.1:$(admin_port "$i")" \
    RetailStreaming__Persistence__Provider=postgres \
    RetailStreaming__Persistence__ConnectionString="$journal" \
    RetailStreaming__Store__Provider=postgres \
    RetailStreaming__Store__ConnectionString="${RS_STORE_DB:-$journal}" \
      nohup dotnet "$node_dll" run >>"$ndir/node.log" 2>&1 &
    echo $! >"$ndir/pid"
  )
  echo "node$i: pid $(cat "$ndir/pid"), akka 127.0.0.1:$(akka_port "$i"), admin http://127.0.0.1:$(admin_port "$i"), log $ndir/node.log"
}

wait_ready() {
  local i=$1 deadline=$((SECONDS + ${RS_START_TIMEOUT:-120}))
  until curl -fsS "http://127.0.0.1:$(admin_port "$i")/health/ready" >/dev/null 2>&1; do
    [[ -n $(pid_of "$i") ]] || die "node$i exited; see $(node_dir "$i")/node.log"
    ((SECONDS < deadline)) || die "node$i is not ready after ${RS_START_TIMEOUT:-120}s; see $(node_dir "$i")/node.log"
    sleep 0.5
  done
  echo "node$i ready"
}

stop_node() {
  local i=$1 pid
  pid="$(pid_of "$i")" || true
  [[ -n $pid ]] || return 0
  kill -TERM "$pid"
  # The node hands its workflows off (each drains within Workflows:DrainTimeout), leaves, exits.
  for _ in $(seq 1 180); do kill -0 "$pid" 2>/dev/null || { echo "node$i left and exited"; return 0; }; sleep 0.5; done
  echo "node$i did not exit within 90s of SIGTERM; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true
}

command="${1:-}"
case "$command" in
  start)
    count="${2:-3}"
    [[ -n ${RS_NODE_DLL:-} ]] || dotnet build src/RetailStreaming.Node -c "$configuration" -nologo -clp:ErrorsOnly
    [[ -n ${RS_JOURNAL_DB:-} ]] || start_postgres
    for ((i = 1; i <= count; i++)); do start_node "$i"; done
    for ((i = 1; i <= count; i++)); do wait_ready "$i"; done
    echo "operator token: $(node_dir 1)/operator-token; e.g. rsctl --node http://127.0.0.1:$(admin_port 1) --token \"\$(cat $(node_dir 1)/operator-token)\" cluster show"
    ;;
  add)
    i=$(($(node_count) + 1))
    start_node "$i"
    wait_ready "$i"
    ;;
  restart)
    [[ -n ${2:-} ]] || die "usage: cluster.sh restart I"
    start_node "$2"
    wait_ready "$2"
    ;;
  leave)
    [[ -n ${2:-} ]] || die "usage: cluster.sh leave I"
    stop_node "$2"
    ;;
  kill)
    [[ -n ${2:-} ]] || die "usage: cluster.sh kill I"
    pid="$(pid_of "$2")" || die "node$2 does not run"
    kill -KILL "$pid"
    echo "node$2 (pid $pid) killed with SIGKILL at $(date -u +%H:%M:%S)"
    ;;
  status)
    n=$(node_count)
    ((n > 0)) || die "no nodes in $dir; run 'start'"
    for ((i = 1; i <= n; i++)); do
      pid="$(pid_of "$i" || true)"
      ready="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(admin_port "$i")/health/ready" 2>/dev/null || true)"
      printf 'node%-3s pid %-8s akka 127.0.0.1:%-6s admin :%-6s ready %s\n' "$i" "${pid:--}" "$(akka_port "$i")" "$(admin_port "$i")" \
        "$([[ $ready == 200 ]] && echo yes || echo no)"
    done
    for ((i = 1; i <= n; i++)); do
      if [[ -n $(pid_of "$i" || true) && -f $(node_dir "$i")/operator-token ]]; then
        echo "members (as node$i sees them):"
        curl -fsS -H "Authorization: Bearer $(cat "$(node_dir "$i")/operator-token")" "http://127.0.0.1:$(admin_port "$i")/api/cluster" |
          python3 -c 'import json,sys; c=json.load(sys.stdin); [print("  %-40s %-8s %-11s %s%s" % (m["address"], m["status"], m["reachability"], m.get("appVersion", ""), "  (leader)" if m["leader"] else "")) for m in c["members"]]' 2>/dev/null ||
          echo "  (no answer)"
        break
      fi
    done
    ;;
  stop)
    n=$(node_count)
    for ((i = n; i >= 1; i--)); do stop_node "$i"; done
    if [[ -z ${RS_JOURNAL_DB:-} && -d $dir/pg/data ]]; then
      as_pg "'$(pg_bin)/pg_ctl' -D '$dir/pg/data' -m fast stop" >/dev/null 2>&1 || true
      echo "PostgreSQL stopped ($dir/pg kept; rm -rf $dir starts afresh)"
    fi
    ;;
  *)
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
