// fasciculation-dx clinician page. Plain JavaScript, no libraries, nothing fetched from elsewhere.
// Every piece of text from the server or the address bar is inserted with textContent, never as markup.
"use strict";

(function () {
  const TOP = 12;
  const INTERVAL_LEVEL = 0.9;
  const state = {
    schema: null,
    setting: null,
    evidence: {}, // node -> state, in the order entered
    nodes: {}, // node -> {states, description, section}
    seq: 0,
    controller: null,
    timer: null,
    intervalTimer: null,
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "style") Object.assign(node.style, value); // CSSOM: allowed by the page's CSP
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  const pretty = (name) => String(name).replaceAll("_", " ");

  function pct(p) {
    if (p === null || p === undefined || !isFinite(p)) return "n/a";
    if (p >= 0.9995) return ">99.9%";
    if (p > 0 && p < 0.0005) return "<0.1%";
    return (100 * p).toFixed(1) + "%";
  }

  function woe(value) {
    if (value === null || value === undefined || !isFinite(value)) return "decisive";
    return (value > 0 ? "+" : "") + value.toFixed(2);
  }

  function ratio(value) {
    if (value === null || value === undefined || !isFinite(value)) return "decisive";
    return value >= 100 || value < 0.01 ? value.toExponential(1) : value.toPrecision(3);
  }

  // -- errors and status -----------------------------------------------------------------------
  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = false;
    document.body.classList.add("has-error");
  }

  function clearError() {
    const box = $("error");
    box.textContent = "";
    box.hidden = true;
    document.body.classList.remove("has-error");
    for (const row of document.querySelectorAll(".finding.conflict")) row.classList.remove("conflict");
  }

  function setStatus(text) {
    $("status").textContent = text;
  }

  // -- the address bar holds the findings, so a differential can be bookmarked or shared ---------
  function readHash() {
    const params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const evidence = {};
    let setting = null;
    for (const [key, value] of params) {
      if (key === "setting") setting = value;
      else evidence[key] = value;
    }
    return { setting, evidence };
  }

  function writeHash() {
    const params = new URLSearchParams();
    params.set("setting", state.setting);
    for (const [node, value] of Object.entries(state.evidence)) params.set(node, value);
    history.replaceState(null, "", "#" + params.toString());
  }

  function recognised(node, value) {
    return Object.prototype.hasOwnProperty.call(state.nodes, node) && state.nodes[node].states.includes(value);
  }

  // -- the evidence form -------------------------------------------------------------------------
  function buildSettings(schema) {
    const select = $("setting");
    select.replaceChildren();
    for (const [name, description] of Object.entries(schema.settings)) {
      select.append(el("option", { value: name, title: description, text: pretty(name) }));
    }
    select.addEventListener("change", () => {
      state.setting = select.value;
      changed();
    });
  }

  function buildForm(schema) {
    const form = $("evidence-form");
    form.replaceChildren();
    for (const section of schema.sections) {
      const fieldset = el("fieldset", { id: "section-" + section.id, class: "section" }, el("legend", { text: section.title }));
      let subheading = null;
      for (const entry of section.nodes) {
        state.nodes[entry.node] = { states: entry.states, description: entry.description, section: section.title };
        if (entry.subheading && entry.subheading !== subheading) {
          subheading = entry.subheading;
          fieldset.append(el("h4", { text: subheading }));
        }
        const id = "ev-" + entry.node;
        const select = el("select", { id, name: entry.node, "data-node": entry.node });
        select.append(el("option", { value: "", text: "not recorded" }));
        for (const s of entry.states) select.append(el("option", { value: s, text: pretty(s) }));
        select.addEventListener("change", () => {
          if (select.value === "") delete state.evidence[entry.node];
          else state.evidence[entry.node] = select.value;
          select.classList.toggle("set", select.value !== "");
          changed();
        });
        const label = el(
          "label",
          { for: id, title: entry.node },
          el("span", { class: "desc", text: entry.description }),
          el("code", { text: entry.node })
        );
        fieldset.append(el("div", { class: "finding", id: "row-" + entry.node }, label, select));
      }
      form.append(fieldset);
    }
  }

  function syncForm() {
    $("setting").value = state.setting;
    for (const select of document.querySelectorAll("#evidence-form select")) {
      const node = select.dataset.node;
      const value = state.evidence[node];
      select.value = recognised(node, value) ? value : "";
      select.classList.toggle("set", select.value !== "");
    }
    const bad = Object.entries(state.evidence).filter(([n, v]) => !recognised(n, v));
    const list = $("unrecognised-list");
    list.replaceChildren();
    for (const [node, value] of bad) {
      const remove = el("button", { type: "button", class: "remove", text: "remove" });
      remove.addEventListener("click", () => {
        delete state.evidence[node];
        changed();
      });
      list.append(el("li", {}, el("code", { text: node + " = " + value }), " ", remove));
    }
    $("unrecognised").hidden = bad.length === 0;
  }

  function changed() {
    syncForm();
    writeHash();
    clearTimeout(state.timer);
    state.timer = setTimeout(query, 120);
  }

  // -- talking to the server ---------------------------------------------------------------------
  async function post(body, signal) {
    const response = await fetch("/api/query", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal,
    });
    let payload = null;
    try {
      payload = await response.json();
    } catch (err) {
      payload = { error: "the server sent an unreadable answer (status " + response.status + ")" };
    }
    return { ok: response.ok, status: response.status, payload };
  }

  async function query() {
    const seq = ++state.seq;
    clearTimeout(state.intervalTimer);
    if (state.controller) state.controller.abort();
    state.controller = new AbortController();
    const body = { evidence: { ...state.evidence }, setting: state.setting, top: TOP };
    setStatus("updating…");
    document.body.classList.add("busy");
    let answer;
    try {
      answer = await post(body, state.controller.signal);
    } catch (err) {
      if (err.name === "AbortError") return;
      if (seq === state.seq) {
        showError("Cannot reach the fasciculation-dx server. Is it still running?");
        setStatus("");
        document.body.classList.remove("busy");
      }
      return;
    }
    if (seq !== state.seq) return;
    document.body.classList.remove("busy");
    if (!answer.ok) {
      showError(answer.payload.error || "the request was refused (status " + answer.status + ")");
      for (const node of Object.keys(answer.payload.conflicting || {})) {
        const row = document.getElementById("row-" + node);
        if (row) row.classList.add("conflict");
      }
      document.body.classList.add("stale");
      setStatus("not updated");
      return;
    }
    clearError();
    document.body.classList.remove("stale");
    render(answer.payload);
    setStatus("");
    state.intervalTimer = setTimeout(() => queryInterval(seq, body), 250);
  }

  async function queryInterval(seq, body) {
    let answer;
    try {
      answer = await post({ ...body, interval: INTERVAL_LEVEL }, state.controller.signal);
    } catch (err) {
      return;
    }
    if (seq !== state.seq || !answer.ok) return;
    const intervals = answer.payload.intervals;
    if (intervals) {
      drawIntervals(intervals, answer.payload.interval_level);
    } else {
      $("interval-note").textContent = "Credible intervals are not available from this version of the model.";
    }
  }

  // -- rendering -----------------------------------------------------------------------------------
  function render(result) {
    const etiologies = state.schema.etiologies;
    const posterior = Object.entries(result.posterior);
    const [leadName, leadP] = posterior[0];
    const count = Object.keys(result.evidence).length;
    $("summary").textContent =
      (count === 0 ? "No findings entered: these are the base rates of " : count + " finding" + (count === 1 ? "" : "s") + " entered, ") +
      (count === 0 ? pretty(result.setting) + "." : "in " + pretty(result.setting) + ". ") +
      (count === 0 ? "" : "Most probable: " + pretty(leadName) + " (" + pct(leadP) + ").");

    // benign / pathological
    const benign = result.category.benign || 0;
    const pathological = result.category.pathological || 0;
    const split = $("split");
    split.replaceChildren(
      el("div", { class: "seg benign", style: { width: (100 * benign).toFixed(2) + "%" } }),
      el("div", { class: "seg pathological", style: { width: (100 * pathological).toFixed(2) + "%" } })
    );
    split.setAttribute("aria-label", "benign " + pct(benign) + ", pathological " + pct(pathological));
    $("split-legend").replaceChildren(
      el("span", { class: "key benign", id: "benign-value", text: "Benign " + pct(benign) }),
      el("span", { class: "key pathological", id: "pathological-value", text: "Pathological " + pct(pathological) })
    );

    // posterior bar chart
    const chart = $("chart");
    chart.replaceChildren();
    for (const [name, p] of posterior.slice(0, TOP)) {
      const info = etiologies[name] || { category: "", group: "", description: "" };
      const bar = el("div", { class: "bar " + info.category, style: { width: (100 * p).toFixed(2) + "%" } });
      const track = el("div", { class: "track" }, bar, el("div", { class: "whisker", hidden: "" }));
      const label = el("div", { class: "label", title: info.description }, el("span", { text: pretty(name) }),
        el("small", { text: pretty(info.group) }));
      chart.append(el("div", { class: "row", "data-etiology": name }, label, track, el("div", { class: "value", text: pct(p) })));
    }
    $("interval-note").textContent = "";

    // groups
    const groups = $("groups").tBodies[0];
    groups.replaceChildren();
    for (const [name, p] of Object.entries(result.group)) {
      groups.append(el("tr", {}, el("td", { text: pretty(name) }), el("td", { class: "num", text: pct(p) })));
    }

    // explanation
    const explanation = $("explanation").tBodies[0];
    explanation.replaceChildren();
    if (result.explanation.length === 0) {
      $("why-lead").textContent = "";
      explanation.append(el("tr", {}, el("td", { colspan: "5", class: "empty", text: "Enter a finding to see what drives the differential." })));
    } else {
      const first = result.explanation[0];
      $("why-lead").textContent = "leading: " + pretty(first.leading) + "; runner-up: " + pretty(first.runner_up);
      $("runner-head").textContent = "vs " + pretty(first.runner_up);
      for (const row of result.explanation) {
        const sign = (v) => (v === null ? "decisive" : v > 0 ? "for" : v < 0 ? "against" : "neutral");
        const towards = (v) => (v === null ? "decisive" : v > 0 ? "towards-pathological" : v < 0 ? "towards-benign" : "neutral");
        explanation.append(
          el("tr", {},
            el("td", { text: pretty(row.node) + " = " + pretty(row.state) }),
            el("td", { class: "num " + sign(row.woe_vs_rest), text: woe(row.woe_vs_rest) }),
            el("td", { class: "num " + sign(row.woe_vs_runner_up), text: woe(row.woe_vs_runner_up) }),
            el("td", { class: "num pathological-woe " + towards(row.woe_pathological_vs_benign), text: woe(row.woe_pathological_vs_benign) }),
            el("td", { class: "num pathological-lr", text: ratio(row.lr_pathological_vs_benign) })
          )
        );
      }
    }

    // next tests
    const tests = $("next-tests").tBodies[0];
    tests.replaceChildren();
    for (const row of result.next_tests) {
      const jump = el("button", { type: "button", class: "link", text: pretty(row.node) });
      jump.addEventListener("click", () => {
        const select = document.getElementById("ev-" + row.node);
        if (select) {
          select.scrollIntoView({ block: "center" });
          select.focus();
        }
      });
      tests.append(
        el("tr", { "data-tier": row.tier || "" },
          el("td", {}, jump),
          el("td", { class: "tier", title: pretty(row.cost_band || "") + " cost, " + pretty(row.invasiveness || "") + " invasiveness", text: row.tier_title || pretty(row.tier || "") }),
          el("td", { class: "num", text: Number(row.info_gain_etiology).toFixed(3) }),
          el("td", { class: "num", text: Number(row.info_gain_category).toFixed(3) }),
          el("td", { text: pretty(row.most_likely_result) })
        )
      );
    }
    $("footer-disclaimer").textContent = result.disclaimer;
  }

  function drawIntervals(intervals, level) {
    for (const row of document.querySelectorAll("#chart .row")) {
      const ci = intervals[row.dataset.etiology];
      const whisker = row.querySelector(".whisker");
      if (!ci) continue;
      whisker.style.left = (100 * ci.lower).toFixed(2) + "%";
      whisker.style.width = Math.max(0.2, 100 * (ci.upper - ci.lower)).toFixed(2) + "%";
      whisker.hidden = false;
      whisker.title = Math.round(100 * level) + "% credible interval " + pct(ci.lower) + " to " + pct(ci.upper);
      row.querySelector(".value").title = whisker.title;
    }
    $("interval-note").textContent =
      "Lines show " + Math.round(100 * level) + "% credible intervals from the parameters' plausible ranges.";
  }

  // -- start -----------------------------------------------------------------------------------------
  async function start() {
    let response;
    try {
      response = await fetch("/api/schema");
      if (!response.ok) throw new Error("status " + response.status);
      state.schema = await response.json();
    } catch (err) {
      showError("Cannot load the model from the server (" + err.message + ").");
      return;
    }
    buildSettings(state.schema);
    buildForm(state.schema);
    $("footer-disclaimer").textContent = state.schema.disclaimer;
    const fromHash = readHash();
    state.setting = fromHash.setting || state.schema.default_setting;
    state.evidence = fromHash.evidence;
    if (!(state.setting in state.schema.settings)) {
      // keep it: the server names the valid settings in its answer
      $("setting").append(el("option", { value: state.setting, text: state.setting }));
    }
    $("clear").addEventListener("click", () => {
      state.evidence = {};
      if (!(state.setting in state.schema.settings)) state.setting = state.schema.default_setting;
      changed();
    });
    window.addEventListener("hashchange", () => {
      const next = readHash();
      state.setting = next.setting || state.schema.default_setting;
      state.evidence = next.evidence;
      changed();
    });
    changed();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
