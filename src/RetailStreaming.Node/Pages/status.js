// Client status: only the caller's workflows (the API answers nothing else to a client token),
// each in plain words, with what was delivered in the last hour; refreshes every 10 s.
"use strict";
(() => {
  const { api, el, time, dateTime, number, words } = RS;

  async function refresh() {
    const [me, views, samples] = await Promise.all([api("/api/overview"), api("/api/workflows"), api("/api/samples?minutes=60")]);
    document.getElementById("title").textContent = me.clientId ? "Workflows of " + me.clientId : "All workflows (operator token)";
    const box = document.getElementById("workflows");
    if (views.length === 0) { box.replaceChildren(el("p", { text: "No workflows." })); return; }
    box.replaceChildren(...views.map(v => {
      const s = v.status || {};
      const w = words(v);
      const mine = samples.samples.filter(x => x.workflowId === v.workflowId);
      let hour = 0;
      for (let i = 1; i < mine.length; i++)
        if (mine[i].node === mine[i - 1].node && mine[i].deliveredRecords >= mine[i - 1].deliveredRecords)
          hour += mine[i].deliveredRecords - mine[i - 1].deliveredRecords;
      return el("div", { class: "status-card", "data-workflow": v.workflowId },
        el("div", {},
          el("div", {}, el("strong", {}, el("code", { text: v.workflowId }))),
          el("div", { class: "words" }, el("span", { class: "badge " + w.level, text: w.level === "ok" ? "OK" : w.level === "warn" ? "attention" : "problem" }), " ", w.text),
          el("div", { class: "muted", text: s.lastDeliveryAt ? "last delivery " + dateTime(s.lastDeliveryAt) : "nothing delivered yet" })),
        el("div", { class: "muted" },
          el("div", { text: number(s.deliveredRecords) + " records delivered since the workflow last started" }),
          el("div", { text: number(hour) + " in the last hour" }),
          el("div", { text: s.deadLetters ? number(s.deadLetters) + " records set aside (dead letters)" : "no records set aside" })));
    }));
    document.getElementById("refreshed").textContent = "refreshed " + time(new Date().toISOString());
  }

  RS.boot("Status", () => RS.every(10, refresh));
})();
