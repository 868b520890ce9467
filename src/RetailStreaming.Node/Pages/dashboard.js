// Operator dashboard: workflows with their state in plain words and figures, an hour of charts,
// transform versions with their deploy times, cluster members and shards; refreshes every 5 s.
"use strict";
(() => {
  const { api, el, time, dateTime, duration, number, words, chart, paintSwatches, seriesFrom } = RS;
  const histories = new Map(); // workflowId -> {definitionVersion, history}
  let overview = null;

  function table(head, rows) {
    return el("table", {}, el("thead", {}, el("tr", {}, head.map(h => el("th", { class: h.endsWith(" ") ? "num" : null, text: h.trim() })))),
      el("tbody", {}, rows));
  }

  function throughputOf(samples, id) {
    // Records per second over the last minute of samples of one node (the one hosting it now).
    const list = samples.filter(s => s.workflowId === id);
    if (list.length < 2) return null;
    const last = list[list.length - 1];
    const same = list.filter(s => s.node === last.node && new Date(last.at) - new Date(s.at) <= 60000);
    const first = same[0];
    const dt = (new Date(last.at) - new Date(first.at)) / 1000;
    return dt > 0 && last.deliveredRecords >= first.deliveredRecords ? (last.deliveredRecords - first.deliveredRecords) / dt : null;
  }

  async function history(view) {
    const s = view.status;
    const known = histories.get(view.workflowId);
    if (known && s && known.definitionVersion === s.definitionVersion) return known.history;
    const h = await api("/api/workflows/" + encodeURIComponent(view.workflowId) + "/history");
    histories.set(view.workflowId, { definitionVersion: s ? s.definitionVersion : -1, history: h });
    return h;
  }

  async function refresh() {
    if (!overview) {
      overview = await api("/api/overview");
      const stage = overview.stage || "local";
      document.getElementById("stage").replaceChildren(el("span", { class: "badge stage-" + stage, text: "stage: " + stage }), " node " + overview.node);
    }
    const [views, samples, cluster, shards] = await Promise.all([
      api("/api/workflows"), api("/api/samples?minutes=60"), api("/api/cluster"), api("/api/sharding/stats")]);
    const stage = overview.stage || "local";

    document.getElementById("workflows").replaceChildren(views.length === 0 ? el("p", { text: "No workflows yet." }) : table(
      ["workflow", "client", "stage", "state", "transform", "delivered ", "records/s ", "lag ", "latency ", "dead letters ", "retries ", "restarts ", "last error", "node"],
      views.map(v => {
        const s = v.status || {};
        const w = words(v);
        return el("tr", { "data-workflow": v.workflowId },
          el("td", {}, el("code", { text: v.workflowId })),
          el("td", { text: v.clientId }),
          el("td", {}, el("span", { class: "badge stage-" + stage, text: stage })),
          el("td", {}, el("span", { class: "badge " + w.level, text: s.state || "?" }), " ", el("span", { class: "words", text: w.text })),
          el("td", { text: s.transformPackage ? s.transformPackage + " " + s.transformVersion + " (v" + s.definitionVersion + ")" : "" }),
          el("td", { class: "num", text: number(s.deliveredRecords) }),
          el("td", { class: "num", text: number(throughputOf(samples.samples, v.workflowId)) }),
          el("td", { class: "num", text: duration(s.sourceLagSeconds) }),
          el("td", { class: "num", text: s.lastCommitToDeliveryMs == null ? "" : number(s.lastCommitToDeliveryMs) + " ms" }),
          el("td", { class: "num", text: number(s.deadLetters) }),
          el("td", { class: "num", text: number(s.retries) }),
          el("td", { class: "num", text: number(s.restarts) }),
          el("td", { class: "muted", text: s.lastError ? time(s.lastErrorAt) + " " + s.lastError
            : (s.recentErrors && s.recentErrors.length ? time(s.recentErrors[0].at) + " " + s.recentErrors[0].message : "") }),
          el("td", { class: "muted", text: s.node || "" }));
      })));

    const ids = views.map(v => v.workflowId);
    const series = seriesFrom(samples.samples, ids);
    const now = Date.now();
    const charts = document.getElementById("charts");
    charts.replaceChildren(
      chart("Throughput", "records/s", series.throughput, now),
      chart("Source lag", "s", series.lag, now),
      chart("Commit-to-delivery latency", "ms", series.latency, now),
      chart("Errors", "dead letters + retries + restarts per sample", series.errors, now));
    if (samples.unanswered && samples.unanswered.length)
      charts.append(el("p", { class: "error", text: "No samples from " + samples.unanswered.join(", ") }));
    paintSwatches(charts);

    const rows = [];
    for (const v of views) {
      const h = await history(v);
      for (const version of [...h.versions].reverse())
        rows.push(el("tr", {},
          el("td", {}, el("code", { text: v.workflowId })), el("td", { text: v.clientId }),
          el("td", {}, el("span", { class: "badge stage-" + stage, text: stage })),
          el("td", { class: "num", text: "v" + version.version }),
          el("td", { text: (version.transformPackage || "?") + " " + (version.transformVersion || "") }),
          el("td", { text: dateTime(version.appliedAt) }),
          el("td", { text: version.current ? "running" : "" })));
    }
    document.getElementById("versions").replaceChildren(rows.length ? table(["workflow", "client", "stage", "version ", "transform", "deployed", ""], rows) : el("p", { text: "None." }));

    document.getElementById("members").replaceChildren(table(["address", "status", "reachability", "roles", "app version", ""],
      cluster.members.map(m => el("tr", {},
        el("td", {}, el("code", { text: m.address })),
        el("td", {}, el("span", { class: "badge " + (m.status === "Up" ? "ok" : "warn"), text: m.status })),
        el("td", {}, el("span", { class: "badge " + (m.reachability === "reachable" ? "ok" : "bad"), text: m.reachability })),
        el("td", { text: (m.roles || []).join(", ") }),
        el("td", { text: m.appVersion }),
        el("td", { class: "muted", text: [m.leader ? "leader" : "", m.self ? "this node" : ""].filter(Boolean).join(", ") })))));

    const shardRows = [];
    for (const type of shards)
      for (const n of type.nodes)
        shardRows.push(el("tr", {}, el("td", { text: type.typeName }), el("td", {}, el("code", { text: n.address })),
          el("td", { class: "num", text: number(n.shards) }), el("td", { class: "num", text: number(n.entities) }),
          el("td", { class: n.failedShards.length ? "error" : "muted", text: n.failedShards.length ? "failed: " + n.failedShards.join(", ") : "" })));
    document.getElementById("shards").replaceChildren(shardRows.length ? table(["region", "node", "shards ", "entities ", ""], shardRows) : el("p", { text: "No shards yet." }));

    document.getElementById("refreshed").textContent = "refreshed " + time(new Date().toISOString());
  }

  RS.boot("Operator dashboard", () => RS.every(5, refresh));
})();
