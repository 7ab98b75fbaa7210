/* Serverless NLP web page. Plain JS, no build step, no CDN: works offline.
 * Talks to the same HTTP API as every other client (see /docs); the token lives in sessionStorage. */
"use strict";
(function () {
  const TOKEN_KEY = "snlp.token";
  const $ = (id) => document.getElementById(id);
  const base = new URL(".", window.location.href); // works behind an API Gateway stage prefix too
  let catalog = []; // [{name, task}]

  // ---- plain-language errors -------------------------------------------------------------
  class ApiError extends Error {
    constructor(kind, message, status) { super(message); this.kind = kind; this.status = status; }
  }

  function explain(status, body) {
    const type = String((body && (body.type || body.code)) || "");
    const detail = body && (body.detail || body.error || body.title);
    if (status === 401 || status === 403) {
      if (/model/.test(type) || /model/i.test(String(detail || ""))) {
        return new ApiError("forbidden", "Your token is not allowed to use this model. Pick another model or ask for access.", status);
      }
      return new ApiError("auth", "That token was not accepted. Check that you pasted all of it, or ask your administrator for a new one.", status);
    }
    if (status === 413 || /text-too-long|too-large|payload/.test(type)) {
      return new ApiError("too-long", "This text is too long for the service. Shorten it and try again." + (detail ? " (" + detail + ")" : ""), status);
    }
    if (status === 422 || status === 400) {
      return new ApiError("invalid", "The service could not use this input" + (detail ? ": " + detail : ".") , status);
    }
    if (status === 404) return new ApiError("not-found", "That model or job does not exist (any more).", status);
    if (status === 429 && /rate-limited/.test(type)) return new ApiError("rate", "You are sending requests faster than your plan allows. Wait a minute and try again.", status);
    if (status === 429) return new ApiError("quota", "You have used up your allowance for now. Try again later.", status);
    if (status >= 500) return new ApiError("unavailable", "The service is not available right now. Please try again in a minute.", status);
    return new ApiError("other", "Something went wrong (code " + status + "). Please try again.", status);
  }

  async function api(method, path, body, token) {
    const headers = { "Accept": "application/json" };
    const tok = token || sessionStorage.getItem(TOKEN_KEY);
    if (tok) headers["Authorization"] = "Bearer " + tok;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(new URL(path, base), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError("unavailable", "The service cannot be reached. Check your connection and try again in a minute.", 0);
    }
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) throw explain(resp.status, data);
    return data;
  }

  function notice(text, kind) {
    const el = $("notice");
    el.textContent = text || "";
    el.className = "notice" + (kind ? " " + kind : "");
    el.hidden = !text;
  }

  function showError(target, err) {
    const p = document.createElement("p");
    p.className = "bad";
    p.setAttribute("role", "alert");
    p.textContent = err instanceof ApiError ? err.message : "Something went wrong. Please try again.";
    target.replaceChildren(p);
    if (err instanceof ApiError && err.kind === "auth") notice(err.message + " Sign out and sign in again with a valid token.", "bad");
  }

  // aria-disabled rather than disabled: a disabled button would drop keyboard focus to <body>
  async function busy(button, fn) {
    if (button.getAttribute("aria-disabled") === "true") return undefined;
    button.setAttribute("aria-disabled", "true");
    try { return await fn(); } finally { button.removeAttribute("aria-disabled"); }
  }

  // ---- response shapes (tolerant: the API may add fields) --------------------------------
  function firstResult(data) {
    const list = data && (data.results || data.predictions || data.data || data.scores);
    if (Array.isArray(list)) return list[0];
    return Array.isArray(data) ? data[0] : data;
  }

  function labelScores(data) {
    const item = firstResult(data);
    const labels = (item && item.labels) || (data && data.labels) || [];
    if (Array.isArray(item) && item.length && typeof item[0] === "object") return item.map((x) => [x.label, x.score]);
    if (item && item.scores && !Array.isArray(item.scores)) return Object.entries(item.scores);
    const probs = item && (item.probabilities || (Array.isArray(item.scores) ? item.scores : null));
    if (Array.isArray(probs) && labels.length === probs.length) return labels.map((l, i) => [l, probs[i]]);
    if (item && item.label !== undefined && item.score !== undefined) return [[item.label, item.score]];
    return [];
  }

  function similarityScore(data) {
    if (typeof data === "number") return data;
    for (const key of ["similarity", "score", "cosine"]) if (data && typeof data[key] === "number") return data[key];
    const list = data && (data.similarities || data.scores || data.results || data.data);
    if (Array.isArray(list) && list.length) {
      const v = list[0];
      if (typeof v === "number") return v;
      if (Array.isArray(v)) return typeof v[1] === "number" && v.length === 2 && typeof v[0] !== "number" ? v[1] : v[v.length > 1 ? 1 : 0];
      if (v && typeof v === "object") return v.similarity !== undefined ? v.similarity : v.score;
    }
    return NaN;
  }

  const pct = (x) => (100 * x).toFixed(1) + " %";

  // ---- sign in / out -----------------------------------------------------------------------
  async function signIn(token) {
    const data = await api("GET", "v1/models", undefined, token);
    sessionStorage.setItem(TOKEN_KEY, token);
    $("signin").hidden = true;
    $("app").hidden = false;
    $("signout").hidden = false;
    $("classify-text").focus();
    loadUsage();
    await loadCatalog(data);
    document.dispatchEvent(new CustomEvent("snlp:signed-in", { detail: data })); // train.js fills its lists
  }

  // ---- usage (GET /v1/usage: this token's own day and month) ------------------------------
  const num = (n) => Number(n || 0).toLocaleString("en");

  function describeUsage(u) {
    const today = u.today || { texts: 0, requests: 0, remaining: null };
    const limit = u.quota_per_day === null || u.quota_per_day === undefined
      ? "no daily limit"
      : num(u.quota_per_day) + " a day, " + num(today.remaining) + " left (resets at 00:00 UTC)";
    return "Today: " + num(today.texts) + " texts in " + num(today.requests) + " requests (" + limit + "). "
      + "This month (" + u.month.month + "): " + num(u.month.texts) + " texts in " + num(u.month.requests)
      + " requests.";
  }

  async function loadUsage() {
    const out = $("usage-summary");
    try { out.textContent = describeUsage(await api("GET", "v1/usage")); }
    catch (err) { out.textContent = err instanceof ApiError ? err.message : "Your usage could not be loaded."; }
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    $("app").hidden = true;
    $("signout").hidden = true;
    $("signin").hidden = false;
    $("token").value = "";
    notice("You are signed out.", "ok");
    $("token").focus();
  }

  // ---- catalog -----------------------------------------------------------------------------
  function modelList(data) {
    const list = (data && (data.models || data.data)) || (Array.isArray(data) ? data : []);
    return list.map((m) => (typeof m === "string" ? { name: m } : { ...m, name: m.name || m.id }));
  }

  async function loadCost() {
    try {
      const resp = await fetch(new URL("app/cost.json", base));
      return resp.ok ? await resp.json() : null;
    } catch (e) { return null; }
  }

  function costFor(cost, name, version, quant, meta) {
    const own = meta && (meta.cost_per_1m_requests ?? meta.usd_per_1m_requests);
    if (typeof own === "number") return own;
    const rows = (cost && (cost.models || cost.per_model)) || [];
    const hit = rows.find((r) => r.model === name && r.version === version) ||
                rows.find((r) => r.model === name && r.quantization === quant && !r.version);
    const v = hit && (hit.usd_per_1m_requests ?? hit.cost_per_1m_requests);
    return typeof v === "number" ? v : null;
  }

  function versionRows(name, detail) {
    const aliases = (detail && detail.aliases) || {};
    let versions = (detail && detail.versions) || [];
    if (!Array.isArray(versions)) versions = Object.entries(versions).map(([v, m]) => ({ version: v, ...m }));
    // versions may be bare strings: attach what the API tells about each (per-version manifests, else prod's)
    const manifests = (detail && detail.manifests) || {};
    const prod = detail && detail.manifest;
    versions = versions.map((v) => (typeof v !== "string" ? v
      : manifests[v] ? { version: v, manifest: manifests[v] }
      : prod && prod.version === v ? { version: v, manifest: prod } : { version: v }));
    if (!versions.length && detail) versions = [prod || detail];
    return versions.map((v) => {
      const m = v.manifest || v;
      const version = m.version || v.version || "";
      const files = m.files || {};
      const size = m.size_bytes ?? v.size_bytes ?? Object.values(files).reduce((s, f) => s + (f.bytes || 0), 0);
      const metrics = m.metrics || {};
      const names = Object.keys(aliases).filter((a) => aliases[a] === version);
      return { name, task: m.task || (detail && (detail.task || (prod && prod.task))) || "", version, alias: names.join(", "),
               quant: m.quantization || "", size, metrics, meta: v };
    });
  }

  function fmtBytes(n) {
    if (!n) return "n/a";
    return n >= 1e6 ? (n / 1e6).toFixed(1) + " MB" : (n / 1e3).toFixed(0) + " kB";
  }

  function fmtQuality(metrics) {
    const acc = metrics.accuracy ?? (metrics.test && metrics.test.accuracy) ?? (metrics.eval && metrics.eval.accuracy);
    if (typeof acc === "number") return (acc <= 1 ? 100 * acc : acc).toFixed(1) + " % accuracy";
    const fid = metrics.fidelity_mean ?? metrics.fidelity ?? metrics.cosine_mean;
    const f = typeof fid === "object" && fid ? (fid.cosine_mean ?? fid.mean) : fid;
    if (typeof f === "number") return "fidelity " + f.toFixed(3); // cosine vs the PyTorch model
    return "n/a";
  }

  async function loadCatalog(listData) {
    catalog = modelList(listData);
    const [cost, ...details] = await Promise.all([loadCost(),
      ...catalog.map((m) => api("GET", "v1/models/" + encodeURIComponent(m.name)).catch(() => null))]);
    const body = $("catalog-table").tBodies[0];
    body.replaceChildren();
    catalog.forEach((m, i) => {
      const detail = details[i] || m;
      if (!m.task) m.task = detail.task || (detail.manifest && detail.manifest.task) || "";
      for (const r of versionRows(m.name, detail)) {
        if (!m.task) m.task = r.task;
        const usd = costFor(cost, r.name, r.version, r.quant, r.meta);
        const cells = [r.name, r.task, r.version, r.alias || "—", r.quant || "n/a", fmtBytes(r.size),
                       fmtQuality(r.metrics), usd === null ? "n/a" : "$" + usd.toFixed(2)];
        const tr = document.createElement("tr");
        cells.forEach((c, j) => { const td = document.createElement("td"); td.textContent = c; if (j >= 5) td.className = "num"; tr.appendChild(td); });
        body.appendChild(tr);
      }
    });
    fillSelect("classify-model", (m) => m.task === "classify");
    fillSelect("similarity-model", (m) => m.task === "embed");
    fillSelect("batch-model", (m) => m.task === "classify");  // batch runs classify or embed; sentiment first
    const extra = catalog.filter((m) => m.task === "embed").map((m) => new Option(m.name, m.name));
    if (catalog.some((m) => m.task === "classify")) $("batch-model").append(...extra);
  }

  function fillSelect(id, keep) {
    const sel = $(id);
    const names = catalog.filter(keep).map((m) => m.name);
    sel.replaceChildren(...(names.length ? names : catalog.map((m) => m.name)).map((n) => new Option(n, n)));
  }

  // ---- try a model ------------------------------------------------------------------------
  function renderBars(target, pairs, model) {
    pairs = pairs.slice().sort((a, b) => b[1] - a[1]);
    const head = document.createElement("p");
    head.className = "verdict";
    head.textContent = pairs.length ? "Most likely: " + pairs[0][0] + " (" + pct(pairs[0][1]) + ")" : "No result.";
    const ul = document.createElement("ul");
    ul.className = "bars";
    ul.setAttribute("aria-label", "Probability per label" + (model ? " from " + model : ""));
    pairs.forEach(([label, p], i) => {
      const li = document.createElement("li");
      if (i === 0) li.className = "top-label";
      li.innerHTML = '<span class="name"></span><span class="track" aria-hidden="true"><span class="fill"></span></span><span class="pct"></span>';
      li.querySelector(".name").textContent = label;
      li.querySelector(".fill").style.width = Math.max(0, Math.min(100, 100 * p)).toFixed(1) + "%";
      li.querySelector(".pct").textContent = pct(p);
      li.dataset.label = label;
      ul.appendChild(li);
    });
    target.replaceChildren(head, ul);
  }

  async function onClassify(ev) {
    ev.preventDefault();
    const text = $("classify-text").value.trim();
    const out = $("classify-result");
    if (!text) { showError(out, new ApiError("invalid", "Type a text first.")); return; }
    await busy(ev.submitter || ev.target.querySelector("button"), async () => {
      try {
        const edge = Boolean(window.snlpEdge && window.snlpEdge.active());
        const t0 = performance.now();
        const model = $("classify-model").value;
        const data = edge ? await window.snlpEdge.classify(model, text) : await api("POST", "v1/classify", { model, texts: [text] });
        answered(out, data, edge ? "edge" : "cloud", performance.now() - t0);
        if (!edge) loadUsage();
      } catch (err) { showError(out, err instanceof ApiError || !err ? err : new ApiError("other", err.message)); }
    });
  }

  const lastMs = { edge: null, cloud: null }; // per-text latency in each mode, for the comparison

  function answered(out, data, mode, ms) {
    renderBars(out, labelScores(data), data && data.model);
    lastMs[mode] = ms;
    const other = mode === "edge" ? "cloud" : "edge";
    const p = document.createElement("p");
    p.id = "classify-mode";
    p.dataset.mode = mode;
    p.dataset.ms = ms.toFixed(1);
    p.textContent = (mode === "edge" ? "Answered on this device" : "Answered by the service") + " in " + ms.toFixed(1) + " ms"
      + (lastMs[other] !== null ? " (" + (other === "edge" ? "on this device" : "by the service") + ": " + lastMs[other].toFixed(1) + " ms)" : "") + ".";
    out.appendChild(p);
  }

  function describeSimilarity(s) {
    if (s >= 0.8) return "very similar";
    if (s >= 0.6) return "similar";
    if (s >= 0.35) return "somewhat related";
    return "not similar";
  }

  async function onSimilarity(ev) {
    ev.preventDefault();
    const a = $("similarity-a").value.trim(), b = $("similarity-b").value.trim();
    const out = $("similarity-result");
    if (!a || !b) { showError(out, new ApiError("invalid", "Type both texts first.")); return; }
    await busy(ev.submitter || ev.target.querySelector("button"), async () => {
      try {
        const data = await api("POST", "v1/similarity", { model: $("similarity-model").value, source: a, targets: [b] });
        const s = similarityScore(data);
        if (!Number.isFinite(s)) throw new ApiError("other", "The service gave an answer this page does not understand.");
        const p = document.createElement("p");
        p.className = "verdict";
        p.id = "similarity-score";
        p.dataset.score = String(s);
        p.textContent = "Similarity: " + s.toFixed(3) + " — " + describeSimilarity(s) + ".";
        const ul = document.createElement("ul");
        ul.className = "bars";
        ul.innerHTML = '<li><span class="name">similarity</span><span class="track" aria-hidden="true"><span class="fill"></span></span><span class="pct"></span></li>';
        ul.querySelector(".fill").style.width = (100 * Math.max(0, Math.min(1, s))).toFixed(1) + "%";
        ul.querySelector(".pct").textContent = s.toFixed(2);
        out.replaceChildren(p, ul);
        loadUsage();
      } catch (err) { showError(out, err); }
    });
  }

  // ---- batch ------------------------------------------------------------------------------
  function countLines(text, isCsv) {
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "").length;
    return Math.max(0, isCsv ? lines - 1 : lines); // CSV: header; quoted newlines make this an estimate
  }

  function batchText(t) { $("batch-text").textContent = t; }

  async function onBatch(ev) {
    ev.preventDefault();
    const file = $("batch-file").files[0];
    const links = $("batch-links"), bar = $("batch-progress");
    links.replaceChildren();
    if (!file) { batchText("Choose a .csv or .jsonl file first."); return; }
    const ext = file.name.toLowerCase().endsWith(".csv") ? "csv" : file.name.toLowerCase().endsWith(".jsonl") ? "jsonl" : "";
    if (!ext) { batchText("This page accepts .csv or .jsonl files only."); return; }
    const button = ev.submitter || ev.target.querySelector("button");
    await busy(button, async () => {
      try {
        const total = countLines(await file.text(), ext === "csv");
        bar.hidden = false; bar.value = 0;
        batchText("Preparing the upload…");
        const job = await api("POST", "v1/batch", { model: $("batch-model").value, format: ext, filename: file.name, texts: Math.max(1, total), bytes: file.size });
        const uploadHeaders = { ...(job.upload_headers || job.headers || {}) };
        batchText("Uploading " + file.name + "…");
        let put;
        try {
          put = await fetch(job.upload_url, { method: job.upload_method || "PUT", body: file, headers: uploadHeaders });
        } catch (e) { put = null; }
        if (!put || !put.ok) throw new ApiError("upload", "The upload failed. Check your connection and try again; nothing was processed.");
        await poll(job.job_id || job.id, total, bar);
      } catch (err) {
        bar.hidden = true;
        batchText(err instanceof ApiError ? err.message : "The upload failed. Please try again.");
      }
    });
  }

  async function poll(jobId, total, bar) {
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    let failures = 0;
    for (;;) {
      let st;
      try { st = await api("GET", "v1/batch/" + encodeURIComponent(jobId)); failures = 0; }
      catch (err) {
        if (err.kind === "auth" || ++failures > 5) throw err;
        await sleep(2000); continue;
      }
      const c = st.counts || {};
      const done = (c.ok || 0) + (c.failed || 0);
      const seen = total || c.total || c.lines_read; // lines_read grows while running: the file's count is the total
      if (st.status === "done") {
        bar.value = 100;
        batchText("Done: " + (c.ok || 0) + " lines processed, " + (c.failed || 0) + " could not be processed.");
        addLink(st.results_url, "Download results", jobId + ".results.jsonl");
        if ((c.failed || 0) > 0) addLink(st.errors_url, "Download the list of problem lines", jobId + ".errors.jsonl");
        return;
      }
      if (st.status === "quota-exceeded") {
        bar.hidden = true;
        batchText("Stopped at your daily quota after " + (c.ok || 0) + " lines; the rest was not processed (or billed). The quota resets at 00:00 UTC.");
        addLink(st.results_url, "Download the results so far", jobId + ".results.jsonl");
        return;
      }
      if (st.status === "failed") {
        bar.hidden = true;
        batchText("The job could not be processed" + (st.reason || st.error ? ": " + (st.reason || st.error) : ".") + " Check the file format and try again.");
        if (st.results_url) addLink(st.results_url, "Download the " + (c.lines_read || 0) + " lines that ran before it failed", jobId + ".results.jsonl");
        return;
      }
      bar.value = seen ? Math.min(99, Math.round((100 * done) / seen)) : 0;
      batchText((st.status === "running" ? "Working: " : "Waiting in line: ") + done + (seen ? " of " + seen : "") + " lines done…");
      await sleep(1000);
    }
  }

  function addLink(url, label, filename) {
    if (!url) return;
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = url; a.textContent = label; a.download = filename; a.rel = "noopener";
    // presigned URLs are cross-origin: fetch the bytes so the browser saves them under a clear name
    a.addEventListener("click", async (e) => {
      e.preventDefault();
      try {
        const resp = await fetch(url);
        if (!resp.ok) throw new Error(String(resp.status));
        const blobUrl = URL.createObjectURL(await resp.blob());
        const tmp = document.createElement("a");
        tmp.href = blobUrl; tmp.download = filename; document.body.appendChild(tmp); tmp.click(); tmp.remove();
        setTimeout(() => URL.revokeObjectURL(blobUrl), 10000);
      } catch (err) { window.open(url, "_blank", "noopener"); }
    });
    li.appendChild(a);
    $("batch-links").appendChild(li);
  }

  // the other scripts of the page (train.js) share these instead of restating them
  window.snlp = { api, ApiError, showError, busy, notice, pct, loadCatalog,
    models: (task) => catalog.filter((m) => m.task === task).map((m) => m.name) };

  // ---- wiring -----------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("signin-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const token = $("token").value.trim();
      const msg = $("signin-msg");
      msg.textContent = ""; msg.className = "msg";
      if (!token) { msg.textContent = "Paste your access token first."; msg.className = "msg bad"; $("token").focus(); return; }
      await busy(ev.submitter || ev.target.querySelector("button"), async () => {
        try { await signIn(token); notice("Signed in.", "ok"); }
        catch (err) { msg.textContent = err.message; msg.className = "msg bad"; $("token").focus(); }
      });
    });
    $("signout").addEventListener("click", signOut);
    $("classify-form").addEventListener("submit", onClassify);
    $("usage-refresh").addEventListener("click", loadUsage);
    $("similarity-form").addEventListener("submit", onSimilarity);
    $("batch-form").addEventListener("submit", onBatch);
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved).catch((err) => { sessionStorage.removeItem(TOKEN_KEY); $("signin-msg").textContent = err.message; $("signin-msg").className = "msg bad"; });
  });
})();
