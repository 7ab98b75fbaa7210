/* Edge mode: run the service's own int8 ONNX model in this browser (onnxruntime-web, WebAssembly)
 * with the model's own tokenizer.json (@huggingface/tokenizers). Both libraries are packaged with
 * the page (app/vendor/, from npm); the model, its tokenizer and the WebAssembly binary come from
 * S3 by presigned URL (GET /v1/edge/<model>) and are kept in this browser's Cache Storage by
 * sha256, so once a model is cached no text leaves the device. */
import * as ort from "./vendor/ort.wasm.min.mjs";
import { Tokenizer } from "./vendor/tokenizers.min.mjs";

const CACHE = "snlp-edge-v1";
const loaded = new Map(); // model ref -> {session, tokenizer, bundle, bytes}
const $ = (id) => document.getElementById(id);

ort.env.wasm.numThreads = 1; // no cross-origin isolation needed; one core, like the Lambda
ort.env.wasm.proxy = false;

async function sha256(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function cachedFile(entry, what) {
  // keyed by content hash on our own origin: a cached model is used without asking the network
  const key = new URL("edge-cache/" + entry.sha256, window.location.href).href;
  const cache = "caches" in window ? await caches.open(CACHE) : null;
  const hit = cache ? await cache.match(key) : undefined;
  if (hit) return { buffer: await hit.arrayBuffer(), downloaded: 0 };
  const resp = await fetch(entry.url);
  if (!resp.ok) throw new Error(what + " could not be downloaded (" + resp.status + ")");
  const buffer = await resp.arrayBuffer();
  if (await sha256(buffer) !== entry.sha256) throw new Error(what + " failed its integrity check");
  if (cache) await cache.put(key, new Response(buffer.slice(0)));
  return { buffer, downloaded: buffer.byteLength };
}

async function load(model) {
  if (loaded.has(model)) return loaded.get(model);
  const bundle = await window.snlp.api("GET", "v1/edge/" + encodeURIComponent(model) + "?runtime=" + ort.env.versions.web);
  if (bundle.task !== "classify") throw new Error("Only classifiers run on this device for now.");
  ort.env.wasm.wasmPaths = { mjs: new URL("vendor/ort-wasm-simd-threaded.mjs", import.meta.url).href, wasm: bundle.runtime.wasm.url };
  const [onnx, tok] = await Promise.all([cachedFile(bundle.files["model.onnx"], "The model"),
    cachedFile(bundle.files["tokenizer.json"], "The tokenizer")]);
  const tokenizerJson = JSON.parse(new TextDecoder().decode(tok.buffer));
  const unk = tokenizerJson.model && tokenizerJson.model.unk_token;
  const tokenizer = new Tokenizer(tokenizerJson, { unk_token: unk });
  const session = await ort.InferenceSession.create(new Uint8Array(onnx.buffer), { executionProviders: ["wasm"] });
  const entry = { session, tokenizer, bundle, bytes: onnx.buffer.byteLength + tok.buffer.byteLength,
    downloaded: onnx.downloaded + tok.downloaded };
  loaded.set(model, entry);
  return entry;
}

function encode(tokenizer, text, maxLength) {
  let ids = tokenizer.encode(text).ids;
  if (ids.length > maxLength) ids = ids.slice(0, maxLength - 1).concat(ids[ids.length - 1]); // keep [SEP], as the service cuts
  return ids;
}

async function classify(model, text) {
  const { session, tokenizer, bundle } = await load(model);
  const ids = encode(tokenizer, text, bundle.max_length);
  const shape = [1, ids.length];
  const tensor = (values) => new ort.Tensor("int64", BigInt64Array.from(values, (v) => BigInt(v)), shape);
  const feeds = {};
  for (const name of session.inputNames) {
    if (name === "input_ids") feeds[name] = tensor(ids);
    else if (name === "attention_mask") feeds[name] = tensor(ids.map(() => 1));
    else if (name === "token_type_ids") feeds[name] = tensor(ids.map(() => 0));
  }
  const out = await session.run(feeds);
  const probs = Array.from(out[bundle.output_name].data);
  const scores = Object.fromEntries(bundle.labels.map((l, i) => [l, probs[i]]));
  const best = probs.indexOf(Math.max(...probs));
  return { model: bundle.model, predictions: [{ label: bundle.labels[best], score: probs[best], scores }] };
}

async function onSwitch() {
  const box = $("classify-edge"), status = $("edge-status");
  if (!box.checked) { status.textContent = "Texts are sent to the service."; return; }
  const model = $("classify-model").value;
  status.textContent = "Loading " + model + " onto this device…";
  try {
    const entry = await load(model);
    const mb = (entry.bytes / 1048576).toFixed(1);
    status.textContent = "Ready on this device: " + mb + " MB (" + (entry.downloaded ? "downloaded now" : "from this browser's cache")
      + "). Texts no longer leave this device.";
    status.dataset.bytes = String(entry.bytes);
    status.dataset.ready = "true";
  } catch (err) {
    box.checked = false;
    status.textContent = "This device cannot run the model: " + (err && err.message ? err.message : "unknown error") + ".";
  }
}

window.snlpEdge = { classify, load, active: () => Boolean($("classify-edge") && $("classify-edge").checked) };
$("classify-edge").addEventListener("change", onSwitch);
$("classify-model").addEventListener("change", () => { if ($("classify-edge").checked) onSwitch(); });
