// fasciculation-dx clinician page. Plain JavaScript, no libraries, nothing fetched from elsewhere.
// Every piece of text from the server or the address bar is inserted with textContent, never as markup.
"use strict";

(function () {
  const TOP = 12;
  const INTERVAL_LEVEL = 0.9;
  const NARROW = "(max-width: 900px)"; // as in style.css: one column, with the summary bar
  const state = {
    schema: null,
    setting: null,
    evidence: {}, // node -> state, "~state" (probably that state) or weights "a:0.8,b:0.2", in the order entered
    nodes: {}, // node -> {states, description, section}
    seq: 0,
    controller: null,
    timer: null,
    intervalTimer: null,
    soft: { ratio: null, prefix: null }, // "probably": from the schema's soft_evidence, never hard-coded
  };

  // A two-state node whose first state is one of these shows its other state first (yes before no).
  const NEGATIVE_FIRST = ["no", "absent", "negative", "normal"];

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

  // A number to `digits` decimals; one that rounds to zero is written unsigned, never "-0.00".
  function fixed(value, digits) {
    const text = Number(value).toFixed(digits);
    return Number(text) === 0 ? (0).toFixed(digits) : text;
  }

  // A probability held to [0, 1]: rounding in the model can leave it a hair outside.
  const clamp = (p) => Math.min(1, Math.max(0, p));

  function pct(p) {
    if (p === null || p === undefined || !isFinite(p)) return "n/a";
    p = clamp(p);
    if (p >= 0.9995) return ">99.9%";
    if (p > 0 && p < 0.0005) return "<0.1%";
    return fixed(100 * p, 1) + "%";
  }

  // A CSS width for a probability.
  const share = (p) => fixed(100 * clamp(Number(p) || 0), 2) + "%";

  // A weight of evidence as shown: signed, two decimals; "decisive" when infinite.
  function woe(value) {
    if (value === null || value === undefined || !isFinite(value)) return "decisive";
    const text = fixed(value, 2);
    return (Number(text) > 0 ? "+" : "") + text;
  }

  // The sign of a weight of evidence as shown (0 when it shows as 0.00), or null when decisive.
  function shownSign(value) {
    if (value === null || value === undefined || !isFinite(value)) return null;
    return Math.sign(Number(fixed(value, 2)));
  }

  function ratio(value) {
    if (value === null || value === undefined || !isFinite(value)) return "decisive";
    return value >= 100 || value < 0.01 ? value.toExponential(1) : value.toPrecision(3);
  }

  // -- errors and status -----------------------------------------------------------------------
  // The banner shows the first line of a message, cut after whole sentences to at most this many
  // characters; the whole message (a list of valid names can run to a screenful) opens on request.
  const ERROR_HEAD_CHARS = 160;

  function headOf(message) {
    const line = message.split("\n")[0].trim();
    if (line.length <= ERROR_HEAD_CHARS) return line;
    const sentences = line.split(/(?<=[.?!])\s+/);
    let head = sentences[0];
    for (const next of sentences.slice(1)) {
      if (head.length + 1 + next.length > ERROR_HEAD_CHARS) break;
      head += " " + next;
    }
    if (head.length <= ERROR_HEAD_CHARS) return head;
    const cut = head.slice(0, ERROR_HEAD_CHARS);
    return cut.slice(0, cut.lastIndexOf(" ") > 0 ? cut.lastIndexOf(" ") : cut.length) + " …";
  }

  function showError(message) {
    const text = String(message).trim();
    const head = headOf(text);
    $("error-head").textContent = head;
    $("error-full").textContent = text;
    $("error-details").hidden = head === text;
    $("error-details").open = false;
    $("error").hidden = false;
    document.body.classList.add("has-error");
    showMiniError(head);
  }

  function clearError() {
    $("error-head").textContent = "";
    $("error-full").textContent = "";
    $("error-details").hidden = true;
    $("error").hidden = true;
    document.body.classList.remove("has-error");
    for (const row of document.querySelectorAll(".finding.conflict")) row.classList.remove("conflict");
  }

  // -- the summary bar: on a narrow screen, the differential in one glance while entering findings --
  function showMini(leadName, leadP, benign, pathological, flags) {
    $("mini").classList.remove("failed");
    $("mini-flags").textContent = flags ? "⚑ " + flags + " red flag" + (flags === 1 ? "" : "s") + " entered" : "";
    $("mini-flags").hidden = !flags;
    $("mini-lead").textContent = "Most probable: " + pretty(leadName) + " " + pct(leadP);
    $("mini-category").textContent = "Pathological " + pct(pathological); // benign: the green part of the bar
    $("mini-split").title = "benign " + pct(benign) + ", pathological " + pct(pathological);
    $("mini-split").replaceChildren(
      el("div", { class: "seg benign", style: { width: share(benign) } }),
      el("div", { class: "seg pathological", style: { width: share(pathological) } })
    );
    $("mini-jump").dataset.target = "results";
    setJumpLabel();
  }

  function showMiniError(head) {
    $("mini").classList.add("failed");
    $("mini-lead").textContent = "Not updated: " + head;
    $("mini-category").textContent = "";
    $("mini-flags").textContent = "";
    $("mini-flags").hidden = true;
    $("mini-split").replaceChildren();
    $("mini-jump").dataset.target = "error";
    setJumpLabel();
  }

  // The bar's button goes to the differential (or the message) and, once there, back to the finding.
  const jump = { resultsInView: false, returnTo: null };

  function setJumpLabel() {
    const button = $("mini-jump");
    if (jump.resultsInView) button.textContent = "Findings ↑";
    else button.textContent = button.dataset.target === "error" ? "Message ↑" : "Differential ↓";
  }

  function onJump() {
    if (jump.resultsInView) {
      const findings = $("evidence-title").getBoundingClientRect().top + window.scrollY;
      window.scrollTo({ top: jump.returnTo === null ? findings : jump.returnTo });
      jump.returnTo = null;
      return;
    }
    jump.returnTo = window.scrollY;
    const target = $("mini-jump").dataset.target === "error" ? $("error") : $("results-title");
    target.scrollIntoView({ block: "start" });
  }

  function watchResults() {
    $("mini-jump").addEventListener("click", onJump);
    if (!("IntersectionObserver" in window)) return;
    const observer = new IntersectionObserver((entries) => {
      jump.resultsInView = entries[entries.length - 1].isIntersecting;
      setJumpLabel();
    });
    observer.observe(document.querySelector("section.results"));
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
    return Object.prototype.hasOwnProperty.call(state.nodes, node) && weightsOf(node, value) !== null;
  }

  // -- soft evidence: what each choice stands for, as a weight per state -------------------------
  const number = (value) => String(Number(value.toPrecision(value < 1 ? 2 : 3)));

  function hardWeights(states, chosen) {
    return Object.fromEntries(states.map((s) => [s, s === chosen ? 1 : 0]));
  }

  function probablyWeights(states, named) {
    const total = state.soft.ratio + states.length - 1;
    return Object.fromEntries(states.map((s) => [s, (s === named ? state.soft.ratio : 1) / total]));
  }

  // The weights an entry stands for ({state: weight}, summing to one), or null if the page cannot read it.
  function weightsOf(node, value) {
    const states = state.nodes[node].states;
    if (typeof value !== "string") return null;
    if (states.includes(value)) return hardWeights(states, value);
    const prefix = state.soft.prefix;
    if (prefix && state.soft.ratio && value.startsWith(prefix) && states.includes(value.slice(prefix.length))) {
      return probablyWeights(states, value.slice(prefix.length));
    }
    if (!value.includes(":")) return null;
    const weights = Object.fromEntries(states.map((s) => [s, 0]));
    const seen = new Set();
    for (const part of value.split(",")) {
      const [name, text, extra] = part.split(":").map((x) => x.trim());
      if (text === undefined || text === "" || extra !== undefined || !states.includes(name) || seen.has(name)) return null;
      if (!/^[+]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return null; // a decimal number, as the server reads it
      const weight = Number(text);
      if (!isFinite(weight) || weight < 0) return null;
      seen.add(name);
      weights[name] = weight;
    }
    const largest = Math.max(...Object.values(weights));
    if (!(largest > 0)) return null;
    for (const s of states) weights[s] /= largest; // scaled first, so huge weights cannot overflow
    const total = Object.values(weights).reduce((a, b) => a + b, 0);
    for (const s of states) weights[s] /= total;
    return weights;
  }

  // The order the page lists a node's states in: a two-state finding's positive state first (yes, no).
  function displayOrder(states) {
    return states.length === 2 && NEGATIVE_FIRST.includes(states[0]) ? [states[1], states[0]] : states;
  }

  // In plain words: {label, title, soft} for the likelihood an entry stands for.
  function describe(node, weights) {
    const known = Object.prototype.hasOwnProperty.call(state.nodes, node);
    const states = displayOrder(known ? state.nodes[node].states : Object.keys(weights));
    const total = states.reduce((sum, s) => sum + (weights[s] || 0), 0);
    const w = states.map((s) => (weights[s] || 0) / total);
    const listed = "weights " + states.map((s, i) => pretty(s) + " " + number(w[i])).join(", ");
    const positive = states.filter((s, i) => w[i] > 0);
    if (positive.length === 1) {
      const s = positive[0];
      const hint = state.soft.ratio ? "; choose “probably " + pretty(s) + "” if unsure" : "";
      return { label: pretty(s), title: pretty(s) + ": entered as certain (" + listed + ")" + hint, soft: false };
    }
    // one state weighed above all the others, which weigh the same: a single likelihood ratio says it all
    const top = w.indexOf(Math.max(...w));
    const rest = w.filter((x, i) => i !== top);
    const even = rest.every((x) => Math.abs(x - rest[0]) <= 1e-9 * rest[0]);
    const ratio = w[top] / rest[0];
    const name = pretty(states[top]);
    const probably = even && state.soft.ratio && Math.abs(ratio - state.soft.ratio) <= 1e-6 * state.soft.ratio;
    const label = probably ? "probably " + name : states.map((s, i) => pretty(s) + " " + number(w[i])).join(", ");
    let meaning = "the relative likelihood of the observation under each state";
    if (even && ratio <= 1 + 1e-9) meaning = "every state weighs the same, so the entry changes nothing";
    else if (even) {
      const others = states.filter((s, i) => i !== top).map(pretty).join(" or ");
      meaning = "the observation is " + number(ratio) + " times as likely if " + name + " as if " + others;
    }
    return { label, title: label + ": " + meaning + " (" + listed + ")", soft: true };
  }

  // The choices for one finding, as values sent to the server: yes, probably yes, probably no, no.
  function choices(states) {
    const prefix = state.soft.ratio ? state.soft.prefix : null;
    if (states.length === 2) {
      const [a, b] = displayOrder(states);
      return prefix ? [a, prefix + a, prefix + b, b] : [a, b];
    }
    return states.flatMap((s) => (prefix ? [s, prefix + s] : [s]));
  }

  // Show on the control what its choice stands for (title) and whether it is uncertain.
  function mark(select) {
    const option = select.selectedOptions[0];
    select.title = option ? option.title : "";
    select.classList.toggle("set", select.value !== "");
    select.classList.toggle("soft", Boolean(option) && option.dataset.soft === "yes");
  }

  function option(node, value) {
    const meaning = describe(node, weightsOf(node, value));
    return el("option", { value, text: meaning.label, title: meaning.title, "data-soft": meaning.soft ? "yes" : "no" });
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

  // The control of one finding: not recorded, then its choices; a change queries the model.
  function findingSelect(entry) {
    const select = el("select", { id: "ev-" + entry.node, name: entry.node, "data-node": entry.node });
    select.append(el("option", { value: "", text: "not recorded", title: "not recorded: the finding is left out" }));
    for (const value of choices(entry.states)) select.append(option(entry.node, value));
    select.addEventListener("change", () => {
      if (select.value === "") delete state.evidence[entry.node];
      else state.evidence[entry.node] = select.value;
      mark(select);
      changed();
    });
    return select;
  }

  // Key findings come first, as a compact grid of short labels; their full descriptions open below it.
  function buildKeyFindings(schema, entries) {
    const key = (schema.key_findings || []).filter((k) => entries.has(k.node));
    if (key.length === 0) return null;
    const grid = el("div", { class: "key-grid" });
    const definitions = el("dl", {});
    for (const { node, label } of key) {
      const entry = entries.get(node);
      const select = findingSelect(entry);
      select.setAttribute("aria-describedby", "def-" + node);
      grid.append(
        el("div", { class: "finding key", id: "row-" + node },
          el("label", { for: select.id, title: entry.description + " (" + node + ")" }, el("span", { class: "desc", text: label })),
          select)
      );
      definitions.append(el("dt", {}, el("code", { text: node })), el("dd", { id: "def-" + node, text: entry.description }));
    }
    const details = el("details", { class: "definitions note" }, el("summary", { text: "What each key finding means" }), definitions);
    return el("fieldset", { id: "section-key", class: "section key-findings" },
      el("legend", { text: "Key findings" }), grid, details);
  }

  // In its own section, a key finding keeps its place as a pointer to its control above.
  function movedRow(entry) {
    const go = el("button", { type: "button", class: "link", text: "in Key findings ↑" });
    go.addEventListener("click", () => {
      const select = $("ev-" + entry.node);
      select.scrollIntoView({ block: "center" });
      select.focus();
    });
    return el("div", { class: "finding moved", "data-node": entry.node },
      el("span", { class: "label" }, el("span", { class: "desc", text: entry.description }), el("code", { text: entry.node })), go);
  }

  function buildForm(schema) {
    const form = $("evidence-form");
    form.replaceChildren();
    const entries = new Map();
    for (const section of schema.sections) {
      for (const entry of section.nodes) {
        entries.set(entry.node, entry);
        state.nodes[entry.node] = { states: entry.states, description: entry.description, section: section.title };
      }
    }
    const keyFieldset = buildKeyFindings(schema, entries);
    if (keyFieldset) form.append(keyFieldset);
    const isKey = new Set(keyFieldset ? schema.key_findings.map((k) => k.node) : []);
    for (const section of schema.sections) {
      const fieldset = el("fieldset", { id: "section-" + section.id, class: "section" }, el("legend", { text: section.title }));
      let subheading = null;
      for (const entry of section.nodes) {
        if (entry.subheading && entry.subheading !== subheading) {
          subheading = entry.subheading;
          fieldset.append(el("h4", { text: subheading }));
        }
        if (isKey.has(entry.node)) {
          fieldset.append(movedRow(entry));
          continue;
        }
        const select = findingSelect(entry);
        const label = el(
          "label",
          { for: select.id, title: entry.node },
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
      for (const custom of select.querySelectorAll("option.custom")) custom.remove();
      const known = value !== undefined && recognised(node, value);
      if (known && !Array.from(select.options).some((o) => o.value === value)) {
        // weights from the address (e.g. yes:0.7,no:0.3): shown as they are, until another choice
        const custom = option(node, value);
        custom.classList.add("custom");
        select.append(custom);
      }
      select.value = known ? value : "";
      mark(select);
    }
    for (const row of document.querySelectorAll(".finding.moved")) {
      // a key finding's place in its own section says what was entered above
      const select = $("ev-" + row.dataset.node);
      const chosen = select.value === "" ? "" : select.selectedOptions[0].textContent + " · ";
      row.querySelector("button").textContent = chosen + "in Key findings ↑";
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
  // A finding written "node=state" by the server, as the page shows findings: "node = state".
  const finding = (text) => String(text).split("=").map(pretty).join(" = ");

  // A likelihood ratio as a factor, as in the explanation's LR column: "×11.8".
  const times = (value) => (value === null || value === undefined || !isFinite(value) ? "decisive" : "×" + ratio(value));

  // The red flags entered, grouped by the guideline that lists them: its words (a sentence every flag of
  // the group shares said once) and its source. Facts from priors/red_flags.csv and sources.csv only.
  function renderRedFlags(result) {
    const groups = result.red_flag_groups || [];
    const count = groups.reduce((n, g) => n + g.findings.length, 0);
    const box = $("red-flag-groups");
    box.replaceChildren();
    for (const group of groups) {
      const list = el("ul", { class: "flag-findings" });
      for (const f of group.findings) {
        list.append(
          el("li", { "data-node": f.node },
            el("strong", { text: pretty(f.node) + " = " + pretty(f.state) }),
            f.certain ? null : el("span", { class: "flag-uncertain", text: " (entered as uncertain)" }),
            f.text ? ": " + f.text : null)
        );
      }
      const shared = group.shared
        ? el("p", { class: "flag-shared", text: (group.findings.length > 1 ? "For each: " : "") + group.shared })
        : null;
      const cited = group.url
        ? el("a", { href: group.url, rel: "noopener noreferrer", target: "_blank", text: group.citation })
        : group.citation;
      box.append(
        el("section", { class: "flag-group", "data-guideline": group.guideline },
          el("h4", { text: group.guideline }), list, shared, el("p", { class: "flag-source" }, "Source: ", cited))
      );
    }
    $("red-flags-count").textContent = count ? "(" + count + ")" : "";
    $("red-flags").hidden = count === 0;
    return count;
  }

  // A shared-mechanism note in the text output's words: why a finding adds little now.
  function mechanismText(note) {
    const mechanisms = Object.entries(note.mechanisms).map(([m, p]) => pretty(m) + " (" + pct(p) + ")").join(", ");
    const target = note.before_measure === "pathological_vs_benign"
      ? "a pathological cause against a benign one"
      : pretty(note.leading) + " against the rest";
    return finding(note.node + "=" + note.state) + " adds little now (" + times(note.lr_vs_rest) + " vs all others, " +
      times(note.lr_pathological_vs_benign) + " pathological vs benign) because " +
      note.shared_with.map(finding).join(", ") + " already make the mechanism it shares with them likely: " +
      mechanisms + ". Counted before them, it would multiply the odds of " + target + " by " + ratio(note.lr_before) + ".";
  }

  // How far one suggested test could move P(pathological) and the leading cause, in the text output's words.
  function movesText(row) {
    const outcomes = row.outcomes || [];
    if (outcomes.length === 0) return "";
    const at = (o, key) => pct(o[key]) + " (if " + pretty(o.state) + ", " + pct(o.probability) + " likely)";
    const parts = [["p_pathological", "P(pathological)", row.p_pathological_now], ["p_leading", "P(" + pretty(row.leading) + ")", row.p_leading_now]]
      .map(([key, label, now]) => {
        const low = outcomes.reduce((a, b) => (b[key] < a[key] ? b : a));
        const high = outcomes.reduce((a, b) => (b[key] > a[key] ? b : a));
        return label + " from " + pct(now) + " to between " + at(low, key) + " and " + at(high, key);
      });
    const likely = outcomes.reduce((a, b) => (b.probability > a.probability ? b : a));
    return "Could move " + parts.join("; and ") + ". Most likely result: " + pretty(likely.state) + " (" + pct(likely.probability) + ").";
  }

  function render(result) {
    const etiologies = state.schema.etiologies;
    const posterior = Object.entries(result.posterior);
    const [leadName, leadP] = posterior[0];
    const count = Object.keys(result.evidence).length;
    const meanings = {}; // node -> what was entered, as the server understood it
    for (const [node, value] of Object.entries(result.evidence)) {
      meanings[node] = describe(node, typeof value === "string" ? hardWeights([value], value) : value);
    }
    const uncertain = Object.values(meanings).filter((m) => m.soft).length;
    $("summary").textContent =
      (count === 0 ? "No findings entered: these are the base rates of " : count + " finding" + (count === 1 ? "" : "s") + " entered" +
        (uncertain ? " (" + uncertain + " uncertain)" : "") + ", ") +
      (count === 0 ? pretty(result.setting) + "." : "in " + pretty(result.setting) + ". ") +
      (count === 0 ? "" : "Most probable: " + pretty(leadName) + " (" + pct(leadP) + ").");
    const entered = $("entered");
    entered.replaceChildren();
    for (const [node, meaning] of Object.entries(meanings)) {
      entered.append(
        el("li", { class: meaning.soft ? "soft" : "certain", "data-node": node, title: meaning.title },
          el("span", { class: "node", text: pretty(node) }), " ", el("span", { class: "value", text: meaning.label }))
      );
    }
    entered.hidden = count === 0;
    const flags = renderRedFlags(result);
    showMini(leadName, leadP, result.category.benign || 0, result.category.pathological || 0, flags);

    // benign / pathological
    const benign = result.category.benign || 0;
    const pathological = result.category.pathological || 0;
    const split = $("split");
    split.replaceChildren(
      el("div", { class: "seg benign", style: { width: share(benign) } }),
      el("div", { class: "seg pathological", style: { width: share(pathological) } })
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
      const bar = el("div", { class: "bar " + info.category, style: { width: share(p) } });
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
      // the captions of the stacked cells on a phone; "vs runner-up" is short enough for a narrow cell
      const labels = Array.from($("explanation").tHead.rows[0].cells, (th) => th.textContent);
      labels[2] = "vs runner-up";
      const notes = Object.fromEntries((result.explanation_notes || []).map((n) => [n.node, n]));
      for (const row of result.explanation) {
        // the colour follows the number shown: a weight that shows as 0.00 is neutral
        const named = (positive, negative) => (v) => {
          const shown = shownSign(v);
          return shown === null ? "decisive" : shown > 0 ? positive : shown < 0 ? negative : "neutral";
        };
        const sign = named("for", "against");
        const towards = named("towards-pathological", "towards-benign");
        const note = notes[row.node];
        explanation.append(
          el("tr", { class: note ? "has-note" : "", "data-node": row.node },
            meanings[row.node] && meanings[row.node].soft
              ? el("td", { class: "soft", title: meanings[row.node].title, text: pretty(row.node) + ": " + meanings[row.node].label })
              : el("td", { text: pretty(row.node) + " = " + pretty(row.state) }),
            el("td", { class: "num " + sign(row.woe_vs_rest), "data-label": labels[1], text: woe(row.woe_vs_rest) }),
            el("td", { class: "num " + sign(row.woe_vs_runner_up), "data-label": labels[2], text: woe(row.woe_vs_runner_up) }),
            el("td", { class: "num pathological-woe " + towards(row.woe_pathological_vs_benign), "data-label": labels[3], text: woe(row.woe_pathological_vs_benign) }),
            el("td", { class: "num pathological-lr", "data-label": labels[4], text: ratio(row.lr_pathological_vs_benign) })
          )
        );
        if (note) {
          explanation.append(
            el("tr", { class: "sub mechanism-note", "data-node": row.node }, el("td", { colspan: "5", text: mechanismText(note) }))
          );
        }
      }
    }

    // next tests
    const tests = $("next-tests").tBodies[0];
    const testLabels = Array.from($("next-tests").tHead.rows[0].cells, (th) => th.textContent);
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
      const moves = movesText(row);
      tests.append(
        el("tr", { "data-tier": row.tier || "", "data-node": row.node, class: moves ? "has-note" : "" },
          el("td", {}, jump),
          el("td", { class: "tier", "data-label": testLabels[1], title: pretty(row.cost_band || "") + " cost, " + pretty(row.invasiveness || "") + " invasiveness", text: row.tier_title || pretty(row.tier || "") }),
          el("td", { class: "num", "data-label": testLabels[2], text: fixed(row.info_gain_etiology, 3) }),
          el("td", { class: "num", "data-label": testLabels[3], text: fixed(row.info_gain_category, 3) })
        )
      );
      if (moves) tests.append(el("tr", { class: "sub moves", "data-node": row.node }, el("td", { colspan: "4", text: moves })));
    }
    $("footer-disclaimer").textContent = result.disclaimer;
  }

  function drawIntervals(intervals, level) {
    for (const row of document.querySelectorAll("#chart .row")) {
      const ci = intervals[row.dataset.etiology];
      const whisker = row.querySelector(".whisker");
      if (!ci) continue;
      whisker.style.left = share(ci.lower);
      whisker.style.width = fixed(Math.max(0.2, 100 * (clamp(ci.upper) - clamp(ci.lower))), 2) + "%";
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
    const soft = state.schema.soft_evidence;
    if (soft && isFinite(soft.probably_ratio) && soft.probably_ratio > 1 && soft.prefix) {
      state.soft = { ratio: soft.probably_ratio, prefix: soft.prefix };
      $("soft-note").textContent =
        "“Probably” enters a finding you are unsure of: the observation counts " + number(soft.probably_ratio) +
        " times as likely under the state named as under each other one. Hover over a choice to see its weights.";
      $("soft-help").hidden = false;
      $("soft-help").open = !window.matchMedia(NARROW).matches; // a phone keeps the first screen for findings
    }
    watchResults();
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
