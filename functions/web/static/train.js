/* Build your own classifier: rows or label descriptions -> POST /v1/train -> progress -> evaluation -> publish.
 * Plain JS, no build step; shares the page's API helper (window.snlp, from app.js). */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1000;
  let job = null; // the job being shown

  const mode = () => document.querySelector("input[name=train-mode]:checked").value;
  const fmt = (x) => (x === null || x === undefined ? "n/a" : window.snlp.pct(x));
  const cell = (tag, text, attrs) => {
    const el = document.createElement(tag);
    el.textContent = text;
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    return el;
  };

  function loadBases() { // the page's catalog knows each model's task (app.js)
    $("train-base").replaceChildren(...window.snlp.models("embed").map((n) => cell("option", n, { value: n })));
  }

  function descriptions(text) {
    const out = {};
    for (const line of text.split(/\r?\n/)) {
      const at = line.indexOf(":");
      if (at > 0 && line.slice(at + 1).trim()) out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
    }
    return out;
  }

  async function rowsText() {
    const file = $("train-file").files[0];
    if (file) return await file.text();
    return $("train-rows").value.trim();
  }

  async function onTrain(ev) {
    ev.preventDefault();
    const status = $("train-text");
    $("train-eval").hidden = true;
    $("train-published").textContent = "";
    $("train-share").hidden = true;
    const body = { name: $("train-name").value.trim(), base_model: $("train-base").value || undefined };
    const rows = await rowsText();
    if (mode() === "descriptions") {
      body.descriptions = descriptions($("train-desc").value);
      if (rows) body.rows = rows;
    } else {
      body.rows = rows;
    }
    await window.snlp.busy($("train-submit"), async () => {
      try {
        job = await window.snlp.api("POST", "v1/train", body);
        status.textContent = "Queued: training starts in a moment.";
        await follow(job.job_id, ["done", "failed"]);
      } catch (err) { window.snlp.showError($("train-status"), err); restoreStatus(); }
    });
  }

  function restoreStatus() { // showError replaced the children: put the progress line back after it
    const box = $("train-status");
    if (!$("train-text")) box.append(cell("p", "", { id: "train-text" }));
  }

  function progressText(p) {
    const eta = p.eta_s !== null && p.eta_s !== undefined ? ", about " + Math.ceil(p.eta_s) + " s left" : "";
    if (p.stage === "embedding") return "Reading your rows: " + (p.rows_embedded || 0) + " of " + p.rows + eta + ".";
    if (p.stage === "fitting") return "Learning: round " + p.fold + " of " + p.folds + eta + ".";
    if (p.stage === "done") return "Training finished.";
    return "Queued: training starts in a moment.";
  }

  function showProgress(p) {
    const bar = $("train-progress");
    bar.hidden = false;
    if (p.stage === "embedding") bar.value = 80 * (p.rows_embedded || 0) / Math.max(p.rows || 1, 1);
    else if (p.stage === "fitting") bar.value = 80 + 20 * (p.fold || 0) / Math.max(p.folds || 1, 1);
    else if (p.stage === "done") bar.value = 100;
    $("train-text").textContent = progressText(p);
  }

  async function follow(jobId, until) {
    for (;;) {
      const current = await window.snlp.api("GET", "v1/train/" + encodeURIComponent(jobId));
      job = current;
      if (current.status === "failed") { $("train-text").textContent = "Training failed: " + (current.error || "unknown reason") + "."; return current; }
      if (until.includes(current.status)) {
        if (current.status === "done" || current.status === "published") { showProgress({ stage: "done" }); showEvaluation(current); }
        return current;
      }
      if (current.progress) showProgress(current.progress);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  function showEvaluation(current) {
    const ev = current.evaluation;
    $("train-text").textContent = "Training finished.";
    $("train-eval").hidden = false;
    if (!ev) {
      $("train-headline").textContent = "No labelled rows were given, so there is nothing to measure it on. You can still publish it.";
      for (const id of ["train-perlabel", "train-confusion"]) $(id).querySelector("tbody").replaceChildren();
      $("train-mistakes").replaceChildren();
    } else {
      $("train-headline").textContent = "Accuracy " + fmt(ev.accuracy) + ", macro-F1 " + fmt(ev.macro_f1)
        + " on " + ev.held_out + " rows it did not learn from.";
      $("train-perlabel").querySelector("tbody").replaceChildren(...ev.labels.map((l) => {
        const m = ev.per_label[l]; const tr = document.createElement("tr");
        tr.append(cell("th", l, { scope: "row" }), cell("td", fmt(m.precision), { class: "num" }),
          cell("td", fmt(m.recall), { class: "num" }), cell("td", fmt(m.f1), { class: "num" }),
          cell("td", String(m.support), { class: "num" }));
        return tr;
      }));
      const head = document.createElement("tr");
      head.append(cell("td", ""), ...ev.labels.map((l) => cell("th", l, { scope: "col" })));
      $("train-confusion").querySelector("thead").replaceChildren(head);
      $("train-confusion").querySelector("tbody").replaceChildren(...ev.confusion.map((row, i) => {
        const tr = document.createElement("tr");
        tr.append(cell("th", ev.labels[i], { scope: "row" }),
          ...row.map((n, j) => cell("td", String(n), { class: i === j ? "num hit" : "num" })));
        return tr;
      }));
      $("train-mistakes").replaceChildren(...ev.mistakes.map((m) => cell("li",
        "“" + m.text + "”: labelled " + m.label + ", predicted " + m.predicted + " (" + fmt(m.confidence) + " sure)")));
      if (!ev.mistakes.length) $("train-mistakes").append(cell("li", "No mistakes on the held-out rows."));
    }
    $("train-eval-h").focus();
    if (current.status === "published") showPublished(current);
  }

  function showPublished(current) {
    $("train-published").textContent = "Published as " + current.model + " (version " + current.version_number
      + "). Use the model name “" + current.name + "” in the API, the batch upload or the WordPress plugin.";
    loadSharing(current.name);
  }

  // ---- share later / unshare: PUT and DELETE /v1/models/{name}/sharing (owner only) -----------
  let shared = null; // the published model's name
  const sharingPath = () => "v1/models/" + encodeURIComponent(shared) + "/sharing";

  function showSharing(s) {
    $("train-share-tokens").value = s.tokens.join(", ");
    $("train-share-public").checked = s.public;
    const who = s.public ? "everyone with a token" : s.tokens.length ? s.tokens.length + " other token" + (s.tokens.length > 1 ? "s" : "") : "nobody else";
    $("train-share-now").textContent = "Shared with " + who + ". You always keep it.";
  }

  async function loadSharing(name) {
    shared = name;
    $("train-share").hidden = false;
    try { showSharing(await window.snlp.api("GET", sharingPath())); }
    catch (err) { $("train-share-now").textContent = err.message; }
  }

  async function changeSharing(button, method, body, done) {
    await window.snlp.busy(button, async () => {
      try {
        showSharing(await window.snlp.api(method, sharingPath(), body));
        window.snlp.notice(done, "ok");
      } catch (err) { $("train-share-now").textContent = err.message; }
    });
  }

  function onShare(ev) {
    ev.preventDefault();
    if (!shared) return;
    const tokens = $("train-share-tokens").value.split(/[\s,]+/).filter(Boolean);
    const bad = tokens.find((t) => !/^tok_[0-9a-f]{16}$/.test(t));
    if (bad) { $("train-share-now").textContent = "“" + bad + "” is not a token id (tok_ and 16 characters 0-9, a-f)."; $("train-share-tokens").focus(); return; }
    changeSharing($("train-share-save"), "PUT", { tokens, public: $("train-share-public").checked }, "Sharing saved.");
  }

  function onUnshare() {
    if (shared) changeSharing($("train-unshare"), "DELETE", undefined, "Only you can use " + shared + " now.");
  }

  async function onPublish() {
    if (!job) return;
    await window.snlp.busy($("train-publish"), async () => {
      try {
        await window.snlp.api("POST", "v1/train/" + encodeURIComponent(job.job_id) + "/publish", { alias: $("train-alias").value.trim() || "prod" });
        $("train-published").textContent = "Publishing…";
        const current = await follow(job.job_id, ["published", "done"]);
        if (current.status === "published") {
          showPublished(current);
          window.snlp.notice("Your classifier " + current.name + " is published.", "ok");
          await window.snlp.loadCatalog(await window.snlp.api("GET", "v1/models")); // try it in the classify box
        }
        else $("train-published").textContent = "Not published: " + (current.error || "unknown reason") + ".";
      } catch (err) { $("train-published").textContent = err.message; }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("train-form").addEventListener("submit", onTrain);
    $("train-publish").addEventListener("click", onPublish);
    $("train-share").addEventListener("submit", onShare);
    $("train-unshare").addEventListener("click", onUnshare);
    for (const radio of document.querySelectorAll("input[name=train-mode]")) {
      radio.addEventListener("change", () => { $("train-descriptions").hidden = mode() !== "descriptions"; });
    }
  });
  document.addEventListener("snlp:signed-in", loadBases);
})();
