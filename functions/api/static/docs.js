// Renders /openapi.json as a readable page. Self-contained: no CDN, no framework.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value; else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function refName(schema) {
  return schema && schema.$ref ? schema.$ref.split("/").pop() : null;
}

function schemaLink(schema) {
  const name = refName(schema);
  if (name) return el("a", { href: "#schema-" + name }, name);
  return el("code", {}, JSON.stringify(schema || {}));
}

function anchor(method, path) {
  return "op-" + method + "-" + path.replace(/[^a-zA-Z0-9]+/g, "-");
}

function renderOperation(spec, path, method, op) {
  const isPublic = Array.isArray(op.security) && op.security.length === 0;
  const section = el("section", { class: "route", id: anchor(method, path) },
    el("h2", {}, el("span", { class: "method " + method }, method.toUpperCase()),
      el("span", { class: "path" }, path),
      isPublic ? el("span", { class: "public" }, "no token needed") : null),
    el("p", {}, op.summary || ""),
    op.description ? el("p", {}, op.description) : null);
  if (op.parameters && op.parameters.length) {
    const rows = op.parameters.map(p => el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in),
      el("td", {}, p.description || "")));
    section.append(el("h3", {}, "Parameters"), el("table", {}, ...rows));
  }
  if (op.requestBody) {
    const media = op.requestBody.content["application/json"];
    section.append(el("h3", {}, "Request body (application/json)"), el("p", {}, schemaLink(media.schema)));
    if (media.example) {
      const url = location.origin + location.pathname.replace(/docs$/, "") + path.replace(/^\//, "")
        .replace("{name}", "sentiment").replace("{version}", "1").replace("{label}", "prod");
      const curl = "curl -s " + url + " \\\n  -H \"Authorization: Bearer $SNLP_TOKEN\" \\\n" +
        "  -H 'Content-Type: application/json' \\\n  -d '" + JSON.stringify(media.example) + "'";
      section.append(el("h3", {}, "Example"), el("pre", {}, curl));
    }
  }
  for (const sample of op["x-codeSamples"] || []) {  // the protocol's own client library
    const base = location.origin + location.pathname.replace(/docs$/, "");
    section.append(el("h3", {}, "Example (" + sample.label + ")"),
      el("pre", {}, sample.source.split("{base}").join(base.replace(/\/$/, ""))));
  }
  const rows = Object.entries(op.responses || {}).map(([status, response]) => {
    const content = response.content || {};
    const media = Object.keys(content)[0];
    const schema = media && content[media].schema;
    return el("tr", {}, el("td", {}, el("code", {}, status)), el("td", {}, response.description || ""),
      el("td", {}, media ? el("code", {}, media) : ""), el("td", {}, schema ? schemaLink(schema) : ""));
  });
  section.append(el("h3", {}, "Responses"),
    el("table", {}, el("tr", {}, el("th", {}, "status"), el("th", {}, "meaning"), el("th", {}, "type"),
      el("th", {}, "schema")), ...rows));
  return section;
}

function render(spec) {
  document.title = spec.info.title + " — docs";
  document.getElementById("title").textContent = spec.info.title + " " + spec.info.version;
  document.getElementById("description").textContent = spec.info.description || "";
  const toc = el("ul");
  const routes = document.getElementById("routes");
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      toc.append(el("li", {}, el("a", { href: "#" + anchor(method, path) }, method.toUpperCase() + " " + path)));
      routes.append(renderOperation(spec, path, method, op));
    }
  }
  document.getElementById("toc").append(toc);
  const schemas = document.getElementById("schemas");
  for (const [name, schema] of Object.entries((spec.components || {}).schemas || {})) {
    schemas.append(el("details", { id: "schema-" + name }, el("summary", {}, name),
      el("pre", {}, JSON.stringify(schema, null, 2))));
  }
  document.getElementById("schemas-section").hidden = false;
}

fetch("openapi.json", { headers: { Accept: "application/json" } })
  .then(response => {
    if (!response.ok) throw new Error("HTTP " + response.status);
    return response.json();
  })
  .then(render)
  .catch(error => {
    document.getElementById("description").textContent =
      "Could not load /openapi.json (" + error.message + "). Open it directly instead.";
  });
