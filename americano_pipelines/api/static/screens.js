// The screens' one script (no build step): the token in the tab's session storage, sent as
// `Authorization: Bearer` to the JSON API, and one function per page (`body[data-page]`).
// Every number shown comes from the API's JSON, formatted by `fmt`.
"use strict";

const TOKEN_KEY = "americano.token";
const COLORS = {
  observed: "#1f4e9c",
  predicted: "#b3261e",
  band: "rgba(179, 38, 30, 0.16)",
  a: "rgba(95, 99, 104, 0.13)",
  b: "rgba(31, 78, 156, 0.13)",
  bars: "#5f6368",
  marker: "#b3261e",
  text: "#1b1b1f",
  grid: "#d7d7dc",
};

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

class ApiError extends Error {
  constructor(status, body) {
    super(describeError(status, body));
    this.status = status;
    this.body = body;
  }
}

function describeError(status, body) {
  const detail = body && body.detail;
  if (Array.isArray(detail)) {
    return detail.map((e) => `${fieldOf(e.loc) || "request"}: ${e.msg}`).join("; ");
  }
  return typeof detail === "string" ? detail : `the server answered ${status}`;
}

function fieldOf(loc) {
  // ["body", "conditions", …] or ["body", "cases[2]"] → the form's field.
  if (!Array.isArray(loc) || loc.length < 2) return null;
  return String(loc[1]).split(/[.[]/)[0];
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  if (options.json !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || (options.json !== undefined ? "POST" : "GET"),
    headers,
    body: options.json !== undefined ? JSON.stringify(options.json) : undefined,
  });
  if (response.status === 401 && !options.signingIn) {
    sessionStorage.removeItem(TOKEN_KEY);
    window.location.assign("/?next=" + encodeURIComponent(window.location.pathname));
    throw new ApiError(401, null);
  }
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function fmt(value, digits = 2) {
  if (value === null || value === undefined) return "–";
  return Number(value).toFixed(digits);
}

function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

function setNumber(id, value, digits = 2) {
  const node = document.getElementById(id);
  node.textContent = fmt(value, digits);
  if (value !== null && value !== undefined) node.dataset.value = String(value);
}

function requireSignIn() {
  // A screen's first step: without a token, to the sign-in (and back after it).
  if (!token()) {
    window.location.assign("/?next=" + encodeURIComponent(window.location.pathname));
    return false;
  }
  showSession();
  return true;
}

function showSession() {
  const box = document.querySelector("[data-signed-in]");
  if (!token() || !box) return;
  box.hidden = false;
  const user = sessionStorage.getItem(TOKEN_KEY + ".user");
  document.getElementById("signed-in-as").textContent = user ? `Signed in as ${user}` : "Signed in";
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.clear();
    window.location.assign("/");
  });
}

function showLoadError(error) {
  const box = document.getElementById("load-error");
  box.textContent = error.message;
  box.hidden = false;
}

function clearErrors(form) {
  for (const node of form.querySelectorAll(".error")) node.textContent = "";
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

function showFieldErrors(form, error, summary) {
  // A 422 names its field in `loc`: show the message there, and list it in the summary.
  const detail = error.body && Array.isArray(error.body.detail) ? error.body.detail : null;
  const items = detail || [{ loc: null, msg: error.message }];
  const list = summary ? summary.querySelector("ul") : null;
  if (list) list.replaceChildren();
  let first = null;
  for (const item of items) {
    const name = fieldOf(item.loc);
    const box = name && form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (box) {
      box.querySelector(".error").textContent = item.msg;
      const input = box.querySelector("input, select, textarea");
      if (input) {
        input.setAttribute("aria-invalid", "true");
        first = first || input;
      }
    }
    if (list) {
      // Messages of the registration checks already start with their field.
      const named = item.given || name;
      const text = !name || item.msg.startsWith(`${named}:`) ? item.msg : `${named}: ${item.msg}`;
      const entry = el("li");
      if (box) entry.append(el("a", text, { href: `#${name}` }));
      else entry.textContent = text;
      list.append(entry);
    }
  }
  if (summary) {
    summary.hidden = false;
    summary.focus();
  } else if (first) {
    first.focus();
  }
}

// ----------------------------------------------------------------------------- home

async function homePage() {
  const signIn = document.getElementById("sign-in");
  const form = document.getElementById("sign-in-form");
  if (!token()) {
    signIn.hidden = false;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearErrors(form);
      const value = form.token.value.trim();
      if (!value) {
        showFieldErrors(form, new ApiError(422, { detail: [{ loc: ["body", "token"], msg: "enter your API token" }] }));
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, value);
      try {
        await api("/api/research/protocols", { signingIn: true });
      } catch (error) {
        sessionStorage.removeItem(TOKEN_KEY);
        const message = error.status === 401 ? "this token is unknown, expired or revoked" : error.message;
        showFieldErrors(form, new ApiError(422, { detail: [{ loc: ["body", "token"], msg: message }] }));
        return;
      }
      const next = new URLSearchParams(window.location.search).get("next");
      window.location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : "/");
    });
    form.token.focus();
    return;
  }
  const protocols = await api("/api/research/protocols");
  if (protocols.length) sessionStorage.setItem(TOKEN_KEY + ".user", protocols[0].userId);
  showSession();
  document.getElementById("protocols").hidden = false;
  const table = document.getElementById("protocol-list");
  const body = table.querySelector("tbody");
  for (const protocol of protocols) {
    const row = el("tr", null, { "data-protocol-id": protocol.protocolId });
    row.append(el("td", protocol.protocolName), el("td", protocol.designType),
      el("td", protocol.primaryOutcome), el("td", protocol.startDate));
    const links = el("td");
    links.append(el("a", "ITS dashboard", { href: `/protocols/${encodeURIComponent(protocol.protocolId)}/its` }));
    if (protocol.designType === "ABAB") {
      links.append(" · ", el("a", "ABAB results", { href: `/protocols/${encodeURIComponent(protocol.protocolId)}/abab` }));
    }
    row.append(links);
    body.append(row);
  }
  table.hidden = protocols.length === 0;
  document.getElementById("no-protocols").hidden = protocols.length > 0;
}

// ----------------------------------------------------------------------------- protocol form

function parameters(text, name) {
  // "key = value" lines → an object; numbers, true/false and null keep their JSON type.
  const result = {};
  text.split("\n").forEach((line, index) => {
    const trimmed = line.trim();
    if (!trimmed) return;
    const at = trimmed.indexOf("=");
    if (at < 1) {
      throw new ApiError(422, { detail: [{ loc: ["body", name], msg: `line ${index + 1}: write name = value` }] });
    }
    const key = trimmed.slice(0, at).trim();
    const raw = trimmed.slice(at + 1).trim();
    let value = raw;
    if (raw !== "" && !Number.isNaN(Number(raw))) value = Number(raw);
    else if (["true", "false", "null"].includes(raw)) value = JSON.parse(raw);
    result[key] = value;
  });
  return result;
}

function protocolBody(form) {
  const design = form.designType.value;
  const body = {};
  const text = ["protocolName", "hypothesis", "primaryOutcome", "analysisPlan", "startDate"];
  for (const name of text) body[name] = form[name].value.trim();
  body.designType = design;
  const integers = ["sampleSizeTarget", "plannedLength", "minPhaseLength", "interimLooks", "seed"];
  const designOnly = {
    minBPhaseLength: ["ABAB", "MULTIPLE_BASELINE"],
    maxConsecutive: ["ALTERNATING"],
  };
  for (const name of [...integers, "alpha", ...Object.keys(designOnly)]) {
    const raw = form[name].value.trim();
    if (designOnly[name] && !designOnly[name].includes(design)) continue;
    if (raw === "") continue;
    body[name] = Number(raw);
  }
  if (design === "ALTERNATING") body.randomization = form.randomization.value;
  if (design === "MULTIPLE_BASELINE") {
    body.cases = form.cases.value.split(",").map((s) => s.trim()).filter(Boolean);
  }
  if (design === "CHANGING_CRITERION") {
    body.criteria = form.criteria.value.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  }
  body.conditions = {
    A: parameters(form.conditionA.value, "conditionA"),
    B: parameters(form.conditionB.value, "conditionB"),
  };
  const analyses = analysesOf(form);
  if (analyses.length) body.analyses = analyses;  // none checked: the default analyses
  const power = form.querySelector("#power");
  if (!power.hidden && form.querySelector("#power-simulate").checked) {
    body.power = settingsOf(form.querySelector("#power-settings"));
  }
  return body;
}

function settingValue(input) {
  // An empty setting is left out (the analysis's default); numbers stay numbers.
  const raw = input.value.trim();
  if (raw === "") return undefined;
  const kind = input.dataset.kind;
  if (kind === "integer" || kind === "number") return Number(raw);
  if (kind === "list") return raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (kind === "penalty") return Number.isNaN(Number(raw)) ? raw : Number(raw);
  return raw;
}

function settingsOf(box) {
  const settings = {};
  for (const input of box.querySelectorAll("[data-key]")) {
    const value = settingValue(input);
    if (value !== undefined) settings[input.dataset.key] = value;
  }
  return settings;
}

function analysesOf(form) {
  // The `analyses:` list of a protocol file: a bare name, or the name with its settings.
  const list = [];
  for (const box of form.querySelectorAll("input[data-analysis]:checked")) {
    const settings = settingsOf(form.querySelector(`[data-settings-of="${CSS.escape(box.value)}"]`));
    list.push(Object.keys(settings).length ? { analysis: box.value, ...settings } : box.value);
  }
  return list;
}

function protocolFieldOf(form, field, sent) {
  // The registration names `conditions.A`, `analyses[2].statistic`, `power.sd`: the form's
  // field for each (the item's own box when the form has no input for the setting).
  const [head, setting] = field.split(".");
  if (head === "conditions" && (setting === "A" || setting === "B")) return `condition${setting}`;
  const has = (name) => form.querySelector(`[data-field="${CSS.escape(name)}"]`) !== null;
  const item = /^analyses\[(\d+)\]$/.exec(head);
  if (item) {
    const given = (sent.analyses || [])[Number(item[1]) - 1];
    const name = typeof given === "string" ? given : given && given.analysis;
    if (!name) return "analyses";
    return setting && has(`analysis-${name}-${setting}`) ? `analysis-${name}-${setting}` : `analysis-${name}`;
  }
  if (head === "power" && setting) return has(`power-${setting}`) ? `power-${setting}` : "power";
  return null;
}

function toggleSettings(checkbox, box) {
  const sync = () => { box.hidden = !checkbox.checked; };
  checkbox.addEventListener("change", sync);
  sync();
}

function showDesignFields(form) {
  const design = form.designType.value;
  for (const box of form.querySelectorAll("[data-designs]")) {
    box.hidden = !box.dataset.designs.split(" ").includes(design);
  }
}

function protocolFormPage() {
  if (!requireSignIn()) return;
  const form = document.getElementById("protocol-form");
  const summary = document.getElementById("error-summary");
  const status = document.getElementById("protocol-status");
  form.designType.addEventListener("change", () => showDesignFields(form));
  showDesignFields(form);
  for (const box of form.querySelectorAll("input[data-analysis]")) {
    toggleSettings(box, form.querySelector(`[data-settings-of="${CSS.escape(box.value)}"]`));
  }
  toggleSettings(form.querySelector("#power-simulate"), form.querySelector("#power-settings"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    summary.hidden = true;
    status.textContent = "Registering…";
    let stored;
    let body = {};
    try {
      body = protocolBody(form);
      stored = await api("/api/research/protocols", { json: body });
    } catch (error) {
      status.textContent = "";
      const detail = error.body && Array.isArray(error.body.detail) ? error.body.detail : null;
      for (const item of detail || []) {
        const given = Array.isArray(item.loc) && item.loc[1] ? String(item.loc[1]) : null;
        const field = given && protocolFieldOf(form, given, body);
        if (field) {
          item.loc = ["body", field];
          item.given = given;
        }
      }
      showFieldErrors(form, error, summary);
      return;
    }
    status.textContent = "";
    showSchedule(stored);
    form.hidden = true;
  });
}

function showSchedule(stored) {
  const section = document.getElementById("schedule");
  document.getElementById("schedule-protocol").textContent = `${stored.protocolName} (${stored.protocolId})`;
  document.getElementById("schedule-seed").textContent = String(stored.seed);
  document.getElementById("schedule-registered").textContent = when(stored.registeredAt);
  const body = section.querySelector("tbody");
  body.replaceChildren();
  for (const phase of stored.phases) {
    const params = { ...(phase.interventionParams || {}) };
    const row = el("tr");
    row.append(el("td", phase.label), el("td", phase.phaseType), el("td", phase.startDate),
      el("td", phase.endDate), el("td", String(phase.plannedDuration ?? "")),
      el("td", Object.entries(params).map(([k, v]) => `${k}=${v}`).join(", ")));
    body.append(row);
  }
  section.hidden = false;
  section.dataset.protocolId = stored.protocolId;
  section.focus();
}

// ----------------------------------------------------------------------------- charts

function chartDefaults() {
  Chart.defaults.color = COLORS.text;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.font.size = 13;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
}

// Shaded x ranges (phases) under the datasets, vertical markers over them.
const overlays = {
  id: "overlays",
  beforeDatasetsDraw(chart, _args, options) {
    const { ctx, chartArea, scales } = chart;
    ctx.save();
    // x values are category indexes; a band covers its first to its last point, half a step
    // beyond each.
    const half = (scales.x.getPixelForValue(1) - scales.x.getPixelForValue(0)) / 2;
    for (const band of options.bands || []) {
      const left = Math.max(chartArea.left, scales.x.getPixelForValue(band.from) - half);
      const right = Math.min(chartArea.right, scales.x.getPixelForValue(band.to) + half);
      ctx.fillStyle = band.color;
      ctx.fillRect(left, chartArea.top, right - left, chartArea.bottom - chartArea.top);
      ctx.fillStyle = COLORS.text;
      ctx.font = "600 12px " + Chart.defaults.font.family;
      ctx.textAlign = "center";
      ctx.fillText(band.label, (left + right) / 2, chartArea.top + 14);
    }
    ctx.restore();
  },
  afterDatasetsDraw(chart, _args, options) {
    const { ctx, chartArea, scales } = chart;
    ctx.save();
    for (const line of options.lines || []) {
      const x = line.pixel ? line.pixel(chart) : scales.x.getPixelForValue(line.at);
      ctx.strokeStyle = line.color;
      ctx.lineWidth = 2;
      ctx.setLineDash(line.dash || []);
      ctx.beginPath();
      ctx.moveTo(x, chartArea.top);
      ctx.lineTo(x, chartArea.bottom);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.font = "600 12px " + Chart.defaults.font.family;
      // The label on the roomier side of the line, on a white box.
      const right = x + ctx.measureText(line.label).width + 12 < chartArea.right;
      const width = ctx.measureText(line.label).width + 8;
      const left = right ? x + 4 : x - 4 - width;
      ctx.fillStyle = "rgba(255, 255, 255, 0.9)";
      ctx.fillRect(left, chartArea.top + 4, width, 18);
      ctx.fillStyle = line.color;
      ctx.textAlign = "left";
      ctx.fillText(line.label, left + 4, chartArea.top + 17);
    }
    ctx.restore();
  },
};

// ----------------------------------------------------------------------------- ITS dashboard

async function itsPage() {
  if (!requireSignIn()) return;
  const protocolId = document.body.dataset.protocolId;
  let stored;
  try {
    stored = await api(`/api/research/protocols/${encodeURIComponent(protocolId)}/its`);
  } catch (error) {
    showLoadError(error);
    return;
  }
  document.getElementById("its-subtitle").textContent =
    `${stored.metric}, intervention on ${stored.interventionDate}` +
    (stored.postWindow ? `; post period ${stored.postWindow.start} to ${stored.postWindow.end}` : "");
  if (!stored.result) {
    showLoadError(new Error(`The ITS was not computed: ${stored.reason}`));
    return;
  }
  const result = stored.result;
  const effect = result.causalEffect;
  setNumber("effect-mean", effect.mean);
  setNumber("effect-sd", effect.sd);
  const hdi = document.getElementById("effect-hdi");
  hdi.textContent = `[${fmt(effect.hdi95[0])}, ${fmt(effect.hdi95[1])}]`;
  hdi.dataset.low = String(effect.hdi95[0]);
  hdi.dataset.high = String(effect.hdi95[1]);
  setNumber("effect-probability", effect.probability_positive, 3);
  document.getElementById("interpretation").textContent = stored.interpretation || result.interpretation;
  setNumber("diag-rhat", result.diagnostics.rhat, 3);
  setNumber("diag-ess-bulk", result.diagnostics.ess_bulk, 0);
  setNumber("diag-ess-tail", result.diagnostics.ess_tail, 0);
  const converged = stored.convergence ? stored.convergence.passed : null;
  document.getElementById("diag-converged").textContent =
    converged === null ? "–" : converged ? "yes" : `no (${stored.convergence.reasons.join("; ")})`;
  document.getElementById("its-provenance").textContent =
    `Computed ${when(stored.computedAt)} on data version ${stored.dataVersion}` +
    ` (${stored.options.chains} chains × ${stored.options.draws} draws, seed ${stored.options.seed}).`;
  document.getElementById("its").hidden = false;

  const cf = result.counterfactual;
  const body = document.querySelector("#its-table tbody");
  cf.dates.forEach((date, i) => {
    const row = el("tr");
    row.append(el("th", date, { scope: "row" }), el("td", fmt(cf.observed[i])),
      el("td", fmt(cf.predicted[i])), el("td", fmt(cf.lower95[i])), el("td", fmt(cf.upper95[i])));
    body.append(row);
  });
  document.getElementById("its-chart-summary").textContent =
    `${cf.dates.length} days from ${cf.dates[0]} to ${cf.dates[cf.dates.length - 1]}; ` +
    `mean effect ${fmt(effect.mean)}, 95% HDI ${fmt(effect.hdi95[0])} to ${fmt(effect.hdi95[1])}.`;
  chartDefaults();
  new Chart(document.getElementById("its-chart"), {
    type: "line",
    data: {
      labels: cf.dates,
      datasets: [
        { label: "Upper 95%", data: cf.upper95, borderWidth: 0, pointRadius: 0, fill: false,
          borderColor: "transparent" },
        { label: "95% credible band", data: cf.lower95, borderWidth: 0, pointRadius: 0,
          fill: "-1", backgroundColor: COLORS.band, borderColor: "transparent" },
        { label: "Counterfactual (predicted)", data: cf.predicted, borderColor: COLORS.predicted,
          borderDash: [6, 4], borderWidth: 2, pointRadius: 0, fill: false },
        { label: "Observed", data: cf.observed, borderColor: COLORS.observed,
          backgroundColor: COLORS.observed, borderWidth: 2, pointRadius: 2, fill: false },
      ],
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { maxTicksLimit: 10 }, grid: { color: COLORS.grid } },
        y: { title: { display: true, text: stored.metric }, grid: { color: COLORS.grid } },
      },
      plugins: {
        legend: { labels: { filter: (item) => item.text !== "Upper 95%" } },
        overlays: {
          lines: cf.dates.includes(stored.interventionDate)
            ? [{ at: cf.dates.indexOf(stored.interventionDate), color: COLORS.text, dash: [2, 3], label: "intervention" }]
            : [],
        },
      },
    },
    plugins: [overlays],
  });
}

// ----------------------------------------------------------------------------- ABAB view

function phaseRuns(observations) {
  // Consecutive observations of one phase label → one shaded band (from/to: their indexes).
  const runs = [];
  observations.forEach((obs, index) => {
    const last = runs[runs.length - 1];
    if (last && last.label === obs.phase) last.to = index;
    else runs.push({ label: obs.phase, condition: obs.condition, from: index, to: index });
  });
  return runs;
}

function histogram(values, observed, bins = 30) {
  const lo = Math.min(...values, observed);
  const hi = Math.max(...values, observed);
  const width = hi > lo ? (hi - lo) / bins : 1;
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[Math.min(bins - 1, Math.floor((v - lo) / width))] += 1;
  const centers = counts.map((_, i) => lo + (i + 0.5) * width);
  return { lo, width, counts, centers };
}

const INDEX_NAMES = {
  nap: "NAP", tau: "Tau", tauU: "Tau-U", tauBC: "Tau-BC", pnd: "PND", pand: "PAND", ird: "IRD",
  pem: "PEM", smd: "SMD (baseline SD)", smdPooled: "SMD (pooled SD)", cohensD: "Cohen's d",
  lrri: "LRRi", lrrd: "LRRd", lrm: "LRM",
};

function showEffectSizes(sizes) {
  // An ABAB design's indexes: the average over its A-B pairs, and each pair's estimate.
  const table = document.getElementById("effect-sizes");
  if (!sizes) return;
  const summary = sizes.average || sizes;
  const pairs = sizes.pairs || [];
  const head = el("tr");
  head.append(el("th", "Index", { scope: "col" }),
    el("th", pairs.length ? `Average (${sizes.weighting} weights)` : "Estimate", { scope: "col" }),
    el("th", "95% CI", { scope: "col" }));
  for (const pair of pairs) head.append(el("th", pair.pair, { scope: "col" }));
  table.querySelector("thead").replaceChildren(head);
  const body = table.querySelector("tbody");
  for (const [name, label] of Object.entries(INDEX_NAMES)) {
    const value = summary[name];
    if (!value || typeof value !== "object" || value.estimate === undefined) continue;
    const row = el("tr", null, { "data-index": name });
    row.append(el("th", label, { scope: "row" }), el("td", fmt(value.estimate, 3)),
      el("td", value.ci95 ? `[${fmt(value.ci95[0], 3)}, ${fmt(value.ci95[1], 3)}]` : "–"));
    for (const pair of pairs) row.append(el("td", pair[name] ? fmt(pair[name].estimate, 3) : "–"));
    row.children[1].dataset.value = String(value.estimate);
    body.append(row);
  }
}

function when(stamp) {
  // An ISO time → "YYYY-MM-DD HH:MM UTC" (the API's times are UTC).
  if (!stamp) return "–";
  const time = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(stamp) ? stamp : `${stamp}Z`);
  return `${time.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

async function ababPage() {
  if (!requireSignIn()) return;
  const protocolId = document.body.dataset.protocolId;
  let stored;
  try {
    stored = await api(`/api/research/protocols/${encodeURIComponent(protocolId)}/randomization-test`);
  } catch (error) {
    showLoadError(error);
    return;
  }
  document.getElementById("abab-subtitle").textContent =
    `${stored.design} design, statistic ${stored.statistic}, ${stored.nObservations} observations`;
  const test = stored.test;
  if (!test) {
    showLoadError(new Error(`The test was not computed: ${stored.reason}`));
    return;
  }
  setNumber("abab-observed", test.observedEffect);
  setNumber("abab-p", test.pValue, 4);
  setNumber("abab-d", test.effectSize);
  const standards = stored.sced_standards || test.sced_standards || { rating: "–", reasons: [] };
  const rating = document.getElementById("abab-rating");
  rating.textContent = standards.rating.replaceAll("_", " ");
  rating.dataset.value = standards.rating;
  document.getElementById("abab-interpretation").textContent = test.interpretation;
  const reasons = document.getElementById("abab-reasons");
  for (const reason of standards.reasons) reasons.append(el("li", reason));
  if (!standards.reasons.length) reasons.append(el("li", test.passesSCEDStandards ? "passes" : "does not pass"));

  showEffectSizes(stored.effectSizes);
  const report = document.getElementById("cent-report");
  report.addEventListener("click", async (event) => {
    // The report needs the token: fetch it, then show it from a blob.
    event.preventDefault();
    const html = await api(`/api/research/protocols/${encodeURIComponent(protocolId)}/report`);
    window.location.assign(URL.createObjectURL(new Blob([html], { type: "text/html" })));
  });
  document.getElementById("abab-provenance").textContent =
    `Computed ${when(stored.computedAt)} on data version ${stored.dataVersion}` +
    ` (${test.exact ? "exact: all" : "Monte Carlo:"} ${test.nAssignments} assignments).`;
  document.getElementById("abab").hidden = false;

  chartDefaults();
  const obs = stored.observations;
  new Chart(document.getElementById("series-chart"), {
    type: "line",
    data: {
      labels: obs.map((o) => o.date),
      datasets: [{ label: "Observed", data: obs.map((o) => o.value), borderColor: COLORS.observed,
        backgroundColor: COLORS.observed, borderWidth: 2, pointRadius: 2 }],
    },
    options: {
      scales: { x: { ticks: { maxTicksLimit: 10 }, grid: { color: COLORS.grid } },
        y: { grid: { color: COLORS.grid } } },
      plugins: {
        legend: { display: false },
        overlays: {
          bands: phaseRuns(obs).map((run) => ({ ...run,
            label: `${run.condition} · ${run.label}`,
            color: run.condition === "B" ? COLORS.b : COLORS.a })),
        },
      },
    },
    plugins: [overlays],
  });

  const values = test.permutationDistribution;
  const bins = histogram(values, test.observedEffect);
  document.getElementById("distribution-caption").textContent =
    `${values.length} assignments${test.permutationDistributionThinned ? " (thinned)" : ""}; ` +
    `the observed statistic ${fmt(test.observedEffect)} (line); p = ${fmt(test.pValue, 4)}.`;
  new Chart(document.getElementById("distribution-chart"), {
    type: "bar",
    data: {
      labels: bins.centers.map((c) => fmt(c)),
      datasets: [{ label: "Assignments", data: bins.counts, backgroundColor: COLORS.bars,
        categoryPercentage: 1, barPercentage: 0.95 }],
    },
    options: {
      scales: { x: { title: { display: true, text: stored.statistic }, ticks: { maxTicksLimit: 8 },
        grid: { display: false } }, y: { grace: "8%", title: { display: true, text: "assignments" },
        grid: { color: COLORS.grid } } },
      plugins: {
        legend: { display: false },
        overlays: {
          lines: [{ color: COLORS.marker, label: `observed ${fmt(test.observedEffect)}`,
            pixel: (chart) => {
              const x = chart.scales.x;
              const position = (test.observedEffect - bins.lo) / bins.width - 0.5;
              return x.getPixelForValue(0) + position * (x.getPixelForValue(1) - x.getPixelForValue(0));
            } }],
        },
      },
    },
    plugins: [overlays],
  });
}

// ----------------------------------------------------------------------------- context widget

function contextPage() {
  if (!requireSignIn()) return;
  const form = document.getElementById("context-form");
  const energy = document.getElementById("energy");
  const output = document.getElementById("energy-value");
  energy.addEventListener("input", () => { output.textContent = energy.value; });
  const status = document.getElementById("context-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    status.textContent = "Saving…";
    const body = {
      mood: form.querySelector("input[name=mood]:checked").value,
      energy: Number(energy.value),
      location: form.location.value,
      notes: form.notes.value.trim() || null,
    };
    try {
      const entry = await api("/api/context-metadata", { json: body });
      status.textContent = `Saved at ${when(entry.timestamp)}.`;
      status.dataset.entryId = entry.id;
      form.notes.value = "";
    } catch (error) {
      status.textContent = "";
      showFieldErrors(form, error);
    }
  });
}

const PAGES = {
  home: homePage,
  "protocol-form": protocolFormPage,
  its: itsPage,
  abab: ababPage,
  context: contextPage,
};

document.addEventListener("DOMContentLoaded", () => {
  const page = PAGES[document.body.dataset.page];
  if (page) {
    Promise.resolve(page()).then(() => {
      document.body.dataset.ready = "true";
    }, (error) => {
      document.body.dataset.ready = "error";
      console.error(error);
    });
  }
});
