// Support view: a record's path (committed, captured, transform version, delivery requests and the
// answer, or its dead letter), by workflow and source key.
"use strict";
(() => {
  const { api, el, dateTime, time, number } = RS;

  function row(label, value) { return el("tr", {}, el("th", { text: label }), el("td", {}, value)); }

  function attempts(list) {
    if (!list || list.length === 0) return null;
    return el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "attempt at" }), el("th", { text: "status" }), el("th", { text: "answer" }))),
      el("tbody", {}, list.map(a => el("tr", {}, el("td", { text: dateTime(a.at) }), el("td", { text: a.statusCode == null ? "" : String(a.statusCode) }), el("td", {}, el("code", { text: a.detail }))))));
  }

  const OUTCOME = {
    delivered: "delivered: the endpoint accepted it",
    dropped: "no record: the transform made nothing of this change",
    "transform-rejected": "rejected by the transform: dead-lettered",
    refused: "refused by the endpoint: dead-lettered",
  };

  function record(found) {
    const r = found.record;
    return el("section", { class: "record", "data-position": r.position },
      el("h2", {}, r.table + " " + r.operation + " ", el("code", { text: r.key }), " at ", el("code", { text: r.position })),
      el("ul", { class: "timeline" },
        el("li", { text: "committed in the source " + dateTime(r.commitTime) }),
        el("li", { text: r.capturedAt ? "captured " + dateTime(r.capturedAt) : "capture time no longer known" }),
        el("li", { text: "transform version " + r.transformVersion + ": " + r.records + " record(s)" }),
        el("li", { text: OUTCOME[r.outcome] + " " + dateTime(r.finishedAt) + (r.requests ? " after " + r.requests + " request(s) for its batch" : "") })),
      el("table", {}, el("tbody", {},
        row("outcome", el("span", { class: "badge " + (r.outcome === "delivered" ? "ok" : r.outcome === "dropped" ? "" : "bad"), text: r.outcome })),
        r.answer ? row("answer", el("code", { text: r.answer })) : null,
        row("idempotency keys", el("code", { text: r.idempotencyKeys.join(" ") || "none" })),
        row("node", el("code", { text: found.node })))),
      attempts(r.attempts));
  }

  function letter(l) {
    return el("section", { class: "dead-letter" },
      el("h2", { text: "Dead letter #" + l.id + " (" + l.stage + ") at " + l.position }),
      el("table", {}, el("tbody", {},
        row("stored", dateTime(l.createdAt)),
        row("transform version", l.transformVersion || ""),
        row("reason", el("code", { text: l.reason })),
        row("state", l.superseded ? "superseded by " + l.superseded.byPosition : l.redrive ? "redriven " + dateTime(l.redrive.at) + ": " + l.redrive.outcome : "open"))),
      attempts(l.attempts));
  }

  async function find(ev) {
    if (ev) ev.preventDefault();
    const workflow = document.getElementById("workflow").value;
    const key = document.getElementById("key").value.trim();
    const table = document.getElementById("table").value.trim();
    const out = document.getElementById("result");
    if (!workflow || !key) { out.replaceChildren(el("p", { class: "error", text: "Choose a workflow and give a source key." })); return; }
    history.replaceState(null, "", "?workflow=" + encodeURIComponent(workflow) + "&key=" + encodeURIComponent(key) + (table ? "&table=" + encodeURIComponent(table) : ""));
    out.replaceChildren(el("p", { class: "muted", text: "searching…" }));
    const q = "/api/workflows/" + encodeURIComponent(workflow) + "/records?key=" + encodeURIComponent(key) + (table ? "&table=" + encodeURIComponent(table) : "");
    const r = await api(q);
    const reach = r.reach.map(x => x.node + " keeps the last " + number(x.capacity) + " changes (holds " + number(x.held) + (x.oldestAt ? ", back to " + dateTime(x.oldestAt) : "") + ")").join("; ");
    out.replaceChildren(
      el("section", { id: "summary" },
        el("h2", { text: r.records.length + " change(s) and " + r.deadLetters.length + " dead letter(s) for key " + key + " in " + workflow }),
        el("p", { class: "muted", text: "Reach: " + (reach || "no node holds records of this workflow") + ". Dead letters looked at: " + number(r.deadLettersScanned) + "." }),
        r.unanswered.length ? el("p", { class: "error", text: "No answer from " + r.unanswered.join(", ") }) : null,
        r.records.length === 0 && r.deadLetters.length === 0 ? el("p", { text: "Nothing found: the change may be older than the reach, or not captured yet." }) : null),
      ...r.records.map(record), ...r.deadLetters.map(letter));
  }

  async function start() {
    const [me, views] = await Promise.all([api("/api/overview"), api("/api/workflows")]);
    document.getElementById("stage").replaceChildren(el("span", { class: "badge stage-" + me.stage, text: "stage: " + me.stage }));
    const select = document.getElementById("workflow");
    select.replaceChildren(...views.map(v => el("option", { value: v.workflowId, text: v.workflowId + " (" + v.clientId + ")" })));
    const params = new URLSearchParams(location.search);
    if (params.get("workflow")) select.value = params.get("workflow");
    if (params.get("key")) document.getElementById("key").value = params.get("key");
    if (params.get("table")) document.getElementById("table").value = params.get("table");
    document.getElementById("find").addEventListener("submit", ev => find(ev).catch(e => { document.getElementById("error").textContent = e.message; }));
    if (params.get("key")) await find();
    document.getElementById("refreshed").textContent = "loaded " + time(new Date().toISOString());
  }

  RS.boot("Support", start);
})();
