// genlab serve: the page. Talks only to this server's JSON API (docs/SERVE.md); every error it shows is the
// one-line message the API answered with.
"use strict";

const POLL_MS = 120;

// --- small helpers ------------------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {method, headers: body ? {"content-type": "application/json"} : {},
                                  body: body ? JSON.stringify(body) : undefined});
  } catch (e) {
    throw new Error("the server did not answer (is genlab serve still running?)");
  }
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) throw new Error((data && data.error) || `the server answered ${response.status}`);
  return data;
}

function say(box, text, kind) {
  box.textContent = text || "";
  box.className = "msg" + (kind ? " " + kind : "");
  if (kind === "error") box.setAttribute("role", "alert"); else box.removeAttribute("role");
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll a job until it finishes; onUpdate(view) gets each answer (its new items only).
async function follow(job, onUpdate) {
  let seen = 0;
  for (;;) {
    const view = await api("GET", `/api/jobs/${job.id}?since=${seen}`);
    seen += view.items.length;
    onUpdate(view);
    if (view.finished) {
      if (view.error) throw new Error(view.error);
      return view;
    }
    await sleep(POLL_MS);
  }
}

// A "stop" button for a running job: DELETE /api/jobs/ID; the job ends at the model's next network evaluation.
function stopButton() {
  const b = el("button", {type: "button", class: "plain stop", text: "Stop", disabled: true});
  b.job = null;
  b.addEventListener("click", async () => {
    if (!b.job) return;
    b.disabled = true;
    try { await api("DELETE", `/api/jobs/${b.job.id}`); } catch (e) { /* the job may have just finished */ }
  });
  b.start = (job) => { b.job = job; b.disabled = false; };
  b.end = () => { b.job = null; b.disabled = true; };
  return b;
}

function image(src, cls, alt) { return el("img", {src: src || null, class: "px " + (cls || ""), alt: alt || ""}); }

// An input for one option the API described ({name, type, default, min, max, choices}).
function optionField(o) {
  const label = o.name.replace(/_/g, " ");
  let input;
  if (o.type === "bool") {
    input = el("input", {type: "checkbox", name: o.name, checked: !!o.default});
    return el("label", {class: "check"}, input, label);
  }
  if (o.type === "choice") {
    input = el("select", {name: o.name}, o.choices.map((c) => el("option", {value: c, selected: c === o.default, text: c})));
  } else if (o.type === "str") {
    input = el("input", {type: "text", name: o.name, value: o.default ?? "", placeholder: o.default === null ? "default" : null});
  } else {
    input = el("input", {type: "number", name: o.name, value: o.default ?? "", placeholder: o.default === null ? "default" : null,
                         min: o.min, max: o.max, step: o.type === "int" ? 1 : "any"});
  }
  return el("label", {class: "field"}, label, input);
}

function readOptions(form, options) {
  const out = {};
  for (const o of options || []) {
    const input = form.querySelector(`[name="${o.name}"]`);
    if (!input) continue;
    if (o.type === "bool") out[o.name] = input.checked;
    else if (o.type === "choice") out[o.name] = input.value;
    else if (o.type === "str") { if (input.value !== "") out[o.name] = input.value; }
    else if (input.value !== "") out[o.name] = Number(input.value);
  }
  return out;
}

function numberField(name, label, value, min, max) {
  return el("label", {class: "field"}, label, el("input", {type: "number", name, value, min, max, step: 1}));
}

function labelField(info, name) {
  if (!info.conditional) return null;
  return el("label", {class: "field"}, "class", el("select", {name: name || "label"},
    el("option", {value: "", text: "every class in turn"}),
    info.classes.map((c, i) => el("option", {value: i, text: `${i}: ${c}`}))));
}

function readNumber(form, name) {
  const input = form.querySelector(`[name="${name}"]`);
  if (!input || input.value === "") return null;
  return Number(input.value);
}

// --- pages --------------------------------------------------------------------------------------------
async function indexPage(main) {
  const {runs} = await api("GET", "/api/runs");
  document.title = "genlab serve";
  const table = el("table", {class: "runs"},
    el("tr", {}, ["run", "family", "data", "step", "can"].map((h) => el("th", {text: h}))),
    runs.map((r) => el("tr", {},
      el("td", {}, el("a", {href: `/run/${encodeURIComponent(r.name)}`, text: r.name})),
      el("td", {text: r.family}), el("td", {text: r.data}), el("td", {text: r.step}),
      el("td", {}, r.capabilities.map((c) => el("span", {class: "tag", text: c}))))));
  const samplers = runs.filter((r) => r.sample && r.kind !== "tokens" && !r.prompt_images);
  const form = el("form", {novalidate: true, action: "/compare"},
    el("div", {class: "row"}, samplers.map((r) => el("label", {class: "check"},
      el("input", {type: "checkbox", name: "run", value: r.name, checked: true}), r.name))),
    el("div", {class: "row"}, numberField("seed", "seed", 0, 0), numberField("n", "images per run", 8, 1),
       el("button", {type: "submit", text: "Compare"})));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const chosen = [...form.querySelectorAll("input[name=run]:checked")].map((i) => i.value);
    const q = new URLSearchParams({runs: chosen.join(","), seed: form.seed.value, n: form.n.value});
    location.href = "/compare?" + q;
  });
  main.replaceChildren(
    el("h1", {text: "Runs"}), el("p", {class: "muted", text: "Each run has a page: sampling, latent sliders, a canvas to inpaint or denoise, a prompt box, translation of images, or a search of the test images by text, as its family allows."}),
    el("section", {class: "panel"}, table),
    samplers.length ? el("section", {class: "panel"}, el("h2", {text: "Compare runs on the same seeds"}), form) : null);
}

async function runPage(main, name) {
  const info = await api("GET", `/api/runs/${encodeURIComponent(name)}`);
  document.title = `${info.name} - genlab serve`;
  main.replaceChildren(
    el("h1", {text: info.name}),
    el("p", {class: "muted"}, `${info.family} on ${info.data}, step ${info.step}, `,
       info.kind === "tokens" ? "text" : `images ${info.shape.join("x")}`, " ",
       info.capabilities.map((c) => el("span", {class: "tag", text: c}))));
  if (info.kind === "tokens") { main.append(textPanel(info)); return; }
  if (info.translate) { main.append(translatePanel(info)); return; }
  if (info.embed) {
    main.append(retrievePanel(info));
    if (info.embed.zero_shot) main.append(classifyPanel(info));
    return;
  }
  if (info.sample) main.append(samplePanel(info));
  if (info.latent) main.append(latentPanel(info));
  main.append(canvasPanel(info));
}

// Sampling: images appear as they are drawn, with a progress bar.
function samplePanel(info) {
  const grid = el("div", {class: "grid", id: "samples"});
  const msg = el("div", {class: "msg"});
  const bar = el("progress", {max: 1, value: 0});
  const button = el("button", {type: "submit", text: "Sample"});
  const stop = stopButton();
  const prompt = info.prompt_images ? el("input", {type: "text", name: "prompt", class: "prompt",
                                                   placeholder: "describe the images, e.g. a thick handwritten seven"}) : null;
  const form = el("form", {novalidate: true, id: "sample-form"}, prompt,
    el("div", {class: "row"}, numberField("n", "images", 8, 1, info.limits.n), numberField("seed", "seed", 0, 0),
       labelField(info), info.sample.map(optionField), button, stop));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    grid.replaceChildren();
    button.disabled = true;
    say(msg, "sampling...");
    const body = {n: readNumber(form, "n"), seed: readNumber(form, "seed"), label: readNumber(form, "label"),
                  options: readOptions(form, info.sample)};
    if (prompt) body.prompt = prompt.value;
    try {
      const job = await api("POST", `/api/runs/${encodeURIComponent(info.name)}/sample`, body);
      stop.start(job);
      const view = await follow(job, (v) => {
        bar.value = v.progress;
        for (const it of v.items) grid.append(el("figure", {}, image(it.image),
          el("figcaption", {text: `seed ${it.seed}` + (it.label === null ? "" : ` \u00b7 class ${info.classes[it.label]}`)})));
        say(msg, `${v.done} of ${v.total} images` + (v.calls && !v.finished ? `, ${v.calls} network evaluations` : ""));
      });
      say(msg, view.cancelled ? `stopped after ${view.done} of ${view.total} images (${view.seconds} s)`
                              : `${view.total} images in ${view.seconds} s`, "ok");
    } catch (err) {
      say(msg, err.message, "error");
    } finally {
      button.disabled = false;
      stop.end();
    }
  });
  return el("section", {class: "panel", id: "sample-panel"}, el("h2", {text: "Sample"}), form,
            el("div", {}, bar), msg, grid);
}

// Latent space: sliders along the principal directions of the test images' codes, and interpolation.
function latentPanel(info) {
  const msg = el("div", {class: "msg"});
  const out = image("", "big", "decoded latent");
  out.id = "latent-image";
  const sliders = el("div", {class: "sliders"});
  const thumbs = el("div", {class: "grid thumbs"});
  const path = el("div", {class: "grid", id: "interpolation"});
  const section = el("section", {class: "panel", id: "latent-panel"}, el("h2", {text: "Latent space"}), msg);
  let base = null, busy = false, pending = false;

  async function decode() {
    if (busy) { pending = true; return; }
    busy = true;
    const coords = [...sliders.querySelectorAll("input")].map((s) => Number(s.value));
    try {
      const r = await api("POST", `/api/runs/${encodeURIComponent(info.name)}/latent`, {coords, base});
      out.src = r.image;
      out.dataset.coords = coords.join(",");
      say(msg, "");
    } catch (err) {
      say(msg, err.message, "error");
    } finally {
      busy = false;
      if (pending) { pending = false; decode(); }
    }
  }

  api("GET", `/api/runs/${encodeURIComponent(info.name)}/latent`).then((space) => {
    space.std.forEach((s, i) => {
      const value = el("span", {text: "0.0"});
      const input = el("input", {type: "range", min: -space.max, max: space.max, step: 0.1, value: 0,
                                 name: `d${i}`, "aria-label": `direction ${i + 1}`});
      input.addEventListener("input", () => { value.textContent = Number(input.value).toFixed(1); decode(); });
      sliders.append(el("label", {}, `PC ${i + 1}`, input, value));
    });
    const choose = (index, node) => {
      base = index;
      thumbs.querySelectorAll("img").forEach((t) => t.classList.remove("chosen"));
      if (node) node.classList.add("chosen");
      decode();
    };
    const mean = el("button", {type: "button", class: "plain", text: "mean code", onclick: () => choose(null, null)});
    space.gallery.forEach((g) => {
      const t = image(g.image, "", `test image ${g.index}`);
      t.title = `test image ${g.index}: click to start from its code`;
      t.addEventListener("click", () => choose(g.index, t));
      thumbs.append(t);
    });
    const pick = (name, value) => el("label", {class: "field"}, name, el("select", {name},
      space.gallery.map((g) => el("option", {value: g.index, selected: g.index === value, text: `test image ${g.index}`}))));
    const iform = el("form", {novalidate: true, id: "interpolate-form"},
      el("div", {class: "row"}, pick("a", 0), pick("b", Math.min(1, space.gallery.length - 1)),
         numberField("steps", "steps", 8, 2, info.limits.interpolation),
         el("label", {class: "field"}, "path", el("select", {name: "method"},
           el("option", {value: "linear", text: "linear"}), el("option", {value: "slerp", text: "slerp"}))),
         el("button", {type: "submit", text: "Interpolate"})));
    iform.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const r = await api("POST", `/api/runs/${encodeURIComponent(info.name)}/interpolate`,
          {a: readNumber(iform, "a"), b: readNumber(iform, "b"), steps: readNumber(iform, "steps"), method: iform.method.value});
        path.replaceChildren(...r.images.map((src) => image(src)));
        say(msg, "");
      } catch (err) { say(msg, err.message, "error"); }
    });
    section.append(
      el("div", {class: "latent"}, el("div", {}, out), el("div", {},
        el("p", {class: "muted", text: `Sliders move along the ${space.directions} principal directions of the test images' codes (in standard deviations), from the mean code or a test image's code:`}),
        el("div", {class: "row"}, mean), thumbs, sliders)),
      el("h2", {text: "Interpolation between two test images"}), iform, path);
    decode();
  }).catch((err) => say(msg, err.message, "error"));
  return section;
}

// The canvas: draw on an image at the model's resolution, paint a mask, then inpaint or denoise.
function canvasPanel(info) {
  const [c, h, w] = info.shape;
  const picture = el("canvas", {width: w, height: h, class: "px", id: "draw-image"});
  const mask = el("canvas", {width: w, height: h, class: "px mask", id: "draw-mask"});
  const pctx = picture.getContext("2d", {willReadFrequently: true});
  const mctx = mask.getContext("2d", {willReadFrequently: true});
  const msg = el("div", {class: "msg"});
  const result = image("", "big", "");
  result.id = "edit-result";
  const thumbs = el("div", {class: "grid thumbs"});
  const tool = el("select", {name: "tool"}, el("option", {value: "mask", text: "mask: area to fill in"}),
                  el("option", {value: "white", text: "draw white"}), el("option", {value: "black", text: "draw black"}));
  const brush = el("input", {type: "number", name: "brush", value: Math.max(1, Math.round(w / 8)), min: 1, max: w});
  const fill = (color) => { pctx.fillStyle = color; pctx.fillRect(0, 0, w, h); };
  fill("#000");

  function paint(x, y) {
    const r = Math.max(1, Number(brush.value) || 1), x0 = Math.floor(x - r / 2), y0 = Math.floor(y - r / 2);
    if (tool.value === "mask") { mctx.fillStyle = "#ff0000"; mctx.fillRect(x0, y0, r, r); }
    else { pctx.fillStyle = tool.value === "white" ? "#fff" : "#000"; pctx.fillRect(x0, y0, r, r); }
  }
  let last = null;
  const at = (e) => { const b = mask.getBoundingClientRect(); return [(e.clientX - b.left) / b.width * w, (e.clientY - b.top) / b.height * h]; };
  mask.addEventListener("pointerdown", (e) => { mask.setPointerCapture(e.pointerId); last = at(e); paint(...last); });
  mask.addEventListener("pointermove", (e) => {
    if (!last) return;
    const p = at(e), steps = Math.ceil(Math.hypot(p[0] - last[0], p[1] - last[1]) * 2) + 1;
    for (let i = 1; i <= steps; i++) paint(last[0] + (p[0] - last[0]) * i / steps, last[1] + (p[1] - last[1]) * i / steps);
    last = p;
  });
  mask.addEventListener("pointerup", () => { last = null; });

  // The mask as the API takes it: white where painted, black elsewhere.
  function maskPng() {
    const out = el("canvas", {width: w, height: h}), octx = out.getContext("2d");
    const src = mctx.getImageData(0, 0, w, h), dst = octx.createImageData(w, h);
    for (let i = 0; i < src.data.length; i += 4) {
      const v = src.data[i + 3] > 0 ? 255 : 0;
      dst.data[i] = dst.data[i + 1] = dst.data[i + 2] = v; dst.data[i + 3] = 255;
    }
    octx.putImageData(dst, 0, 0);
    return out.toDataURL("image/png");
  }

  const section = el("section", {class: "panel", id: "canvas-panel"}, el("h2", {text: "Draw, then inpaint or denoise"}));
  const form = el("form", {novalidate: true, id: "edit-form"});
  async function edit(what) {
    const options = info[what];
    const body = {image: picture.toDataURL("image/png"), seed: readNumber(form, "seed"), label: readNumber(form, "edit-label"),
                  options: options ? readOptions(form.querySelector(`[data-for=${what}]`), options) : undefined};
    if (what === "inpaint") body.mask = maskPng();
    say(msg, `${what}...`);
    result.dataset.input = body.image;
    result.dataset.mask = body.mask || "";
    try {
      const job = await api("POST", `/api/runs/${encodeURIComponent(info.name)}/${what}`, body);
      const view = await follow(job, (v) => { if (!v.finished) say(msg, `${what}... ${Math.round(v.progress * 100)}%` + (v.calls ? `, ${v.calls} network evaluations` : "")); });
      result.src = view.items.length ? view.items[0].image : result.src;
      result.dataset.done = what;
      say(msg, `${what} done in ${view.seconds} s` + (what === "inpaint" ? ": the unmasked pixels are kept exactly" : ""), "ok");
    } catch (err) {
      say(msg, err.message, "error");
    }
  }
  const optionBlock = (what) => info[what]
    ? el("div", {class: "row", "data-for": what}, el("span", {class: "muted", text: `${what}:`}), info[what].map(optionField))
    : el("div", {class: "row muted", "data-for": what, text: `this ${info.family} run cannot ${what} (the button says which families can)`});
  form.append(
    el("div", {class: "row"}, el("label", {class: "field"}, "tool", tool), el("label", {class: "field"}, "brush (pixels)", brush),
       numberField("seed", "seed", 0, 0), labelField(info, "edit-label"),
       el("button", {type: "button", class: "plain", text: "clear mask", onclick: () => mctx.clearRect(0, 0, w, h)}),
       el("button", {type: "button", class: "plain", text: "black", onclick: () => fill("#000")}),
       el("button", {type: "button", class: "plain", text: "white", onclick: () => fill("#fff")})),
    optionBlock("inpaint"), optionBlock("denoise"),
    el("div", {class: "row"}, el("button", {type: "button", id: "inpaint-button", text: "Inpaint", onclick: () => edit("inpaint")}),
       el("button", {type: "button", id: "denoise-button", text: "Denoise", onclick: () => edit("denoise")}),
       el("button", {type: "button", class: "plain", text: "result to canvas", onclick: () => {
         if (result.src) { const im = new Image(); im.onload = () => { pctx.drawImage(im, 0, 0); mctx.clearRect(0, 0, w, h); }; im.src = result.src; }
       }})));
  api("GET", `/api/runs/${encodeURIComponent(info.name)}/gallery`).then((items) => {
    for (const g of items) {
      const t = image(g.image, "", `test image ${g.index}`);
      t.title = "click to load into the canvas";
      t.addEventListener("click", () => { const im = new Image(); im.onload = () => { fill("#000"); pctx.drawImage(im, 0, 0); }; im.src = g.image; });
      thumbs.append(t);
    }
  }).catch(() => thumbs.append(el("span", {class: "muted", text: "(no test images to start from)"})));
  section.append(el("p", {class: "muted", text: "Start from a test image (click one) or a blank canvas; paint the mask (red) over what to fill in, or draw, then ask the model."}),
                 thumbs, el("div", {class: "edit"},
                   el("figure", {}, el("div", {class: "stack"}, picture, mask), el("figcaption", {text: "canvas (red: the mask)"})),
                   el("figure", {}, result, el("figcaption", {text: "result"}))), form, msg);
  return section;
}

// Image pairs: translate a test source (click it) or a drawing, and see input, output, target and the way back.
function translatePanel(info) {
  const t = info.translate;
  const msg = el("div", {class: "msg"});
  const thumbs = el("div", {class: "grid thumbs"});
  const results = el("div", {class: "grid", id: "translation"});
  const direction = t.directions ? el("select", {name: "direction"}, t.directions.map((d) =>
    el("option", {value: d, text: d === "ab" ? "A \u2192 B" : d === "ba" ? "B \u2192 A" : d}))) : null;
  const canvas = el("canvas", {class: "px draw", id: "translate-canvas"});
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  const ink = el("select", {name: "ink"}, el("option", {value: "#fff", text: "draw white"}), el("option", {value: "#000", text: "draw black"}));
  let gallery = [];
  // The canvas has the size of what the model takes: the sources, or domain B's images for B -> A.
  const backwards = () => direction && direction.value === "ba";
  function reset() {
    const [, h, w] = backwards() ? info.shape : t.source_shape;
    canvas.width = w; canvas.height = h;
    ctx.fillStyle = "#000"; ctx.fillRect(0, 0, w, h);
    showThumbs();
  }
  function showThumbs() {
    thumbs.replaceChildren(...gallery.map((g) => {
      const src = backwards() ? g.target : g.image;
      const im = image(src, "", `test image ${g.index}`);
      im.title = "click to translate it (it is copied to the canvas too)";
      im.addEventListener("click", () => { load(src); run({index: g.index}); });
      return im;
    }));
  }
  function load(src) { const im = new Image(); im.onload = () => ctx.drawImage(im, 0, 0); im.src = src; }
  let last = null;
  const at = (e) => { const b = canvas.getBoundingClientRect(); return [(e.clientX - b.left) / b.width * canvas.width, (e.clientY - b.top) / b.height * canvas.height]; };
  const dot = ([x, y]) => { ctx.fillStyle = ink.value; ctx.fillRect(Math.floor(x), Math.floor(y), 1, 1); };
  canvas.addEventListener("pointerdown", (e) => { canvas.setPointerCapture(e.pointerId); last = at(e); dot(last); });
  canvas.addEventListener("pointermove", (e) => {
    if (!last) return;
    const p = at(e), steps = Math.ceil(Math.hypot(p[0] - last[0], p[1] - last[1]) * 2) + 1;
    for (let i = 1; i <= steps; i++) dot([last[0] + (p[0] - last[0]) * i / steps, last[1] + (p[1] - last[1]) * i / steps]);
    last = p;
  });
  canvas.addEventListener("pointerup", () => { last = null; });
  async function run(body) {
    if (direction) body.direction = direction.value;
    say(msg, "translating...");
    try {
      const r = await api("POST", `/api/runs/${encodeURIComponent(info.name)}/translate`, body);
      const cell = (src, caption) => src ? el("figure", {}, image(src), el("figcaption", {text: caption})) : null;
      results.replaceChildren(...[cell(r.input, "input"), cell(r.output, "output"),
        cell(r.target, "target"), cell(r.back, "translated back")].filter(Boolean));
      results.dataset.done = "1";
      say(msg, r.psnr === null ? "done" : `PSNR of the output against the target: ${r.psnr} dB`, "ok");
    } catch (err) { say(msg, err.message, "error"); }
  }
  if (direction) direction.addEventListener("change", reset);
  const form = el("form", {novalidate: true, id: "translate-form"},
    el("div", {class: "row"}, direction ? el("label", {class: "field"}, "direction", direction) : null,
       el("label", {class: "field"}, "pen", ink),
       el("button", {type: "button", class: "plain", text: "clear", onclick: () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, canvas.width, canvas.height); }}),
       el("button", {type: "submit", id: "translate-button", text: "Translate the canvas"})));
  form.addEventListener("submit", (e) => { e.preventDefault(); run({image: canvas.toDataURL("image/png")}); });
  reset();
  api("GET", `/api/runs/${encodeURIComponent(info.name)}/gallery`).then((items) => { gallery = items; showThumbs(); })
    .catch((err) => say(msg, err.message, "error"));
  const pairs = t.paired ? "" : " The two domains are unpaired: a test image has no true translation.";
  return el("section", {class: "panel", id: "translate-panel"}, el("h2", {text: "Translate"}),
    el("p", {class: "muted", text: `Click a test image to translate it, or draw on the canvas (${canvas.width}x${canvas.height}, the size the model takes) and translate that.${pairs}`}),
    thumbs, el("div", {class: "edit"}, el("figure", {}, canvas, el("figcaption", {text: "canvas"})), results), form, msg);
}

// Images and text in one space: the test images nearest to a text.
function retrievePanel(info) {
  const msg = el("div", {class: "msg"});
  const grid = el("div", {class: "grid", id: "retrieved"});
  const text = el("input", {type: "text", name: "text", class: "prompt", placeholder: "describe an image, e.g. a picture of a seven"});
  const form = el("form", {novalidate: true, id: "retrieve-form"}, text,
    el("div", {class: "row"}, numberField("k", "images", 8, 1, info.limits.k), el("button", {type: "submit", text: "Search"})));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    say(msg, "searching...");
    try {
      const r = await api("POST", `/api/runs/${encodeURIComponent(info.name)}/retrieve`, {text: text.value, k: readNumber(form, "k")});
      grid.replaceChildren(...r.results.map((it) => el("figure", {}, image(it.image),
        el("figcaption", {text: `#${it.index} \u00b7 ${it.score.toFixed(3)}` + (it.label === null ? "" : ` \u00b7 ${info.classes[it.label] ?? it.label}`)}))));
      say(msg, `the ${r.results.length} nearest of ${r.searched} test images to "${r.text}" (cosine similarity)`, "ok");
    } catch (err) { grid.replaceChildren(); say(msg, err.message, "error"); }
  });
  return el("section", {class: "panel", id: "retrieve-panel"}, el("h2", {text: "Search the test images by text"}), form, msg, grid);
}

// Zero-shot classification: click a test image; its similarity to each class's prompts.
function classifyPanel(info) {
  const msg = el("div", {class: "msg"});
  const thumbs = el("div", {class: "grid thumbs"});
  const out = el("div", {class: "edit", id: "classified"});
  const classes = el("input", {type: "text", name: "classes", class: "prompt",
    placeholder: "classes, one text each, separated by ; (empty: the dataset's classes and prompts)"});
  async function run(index) {
    const given = classes.value.split(";").map((c) => c.trim()).filter(Boolean);
    say(msg, "classifying...");
    try {
      const r = await api("POST", `/api/runs/${encodeURIComponent(info.name)}/classify`, given.length ? {index, classes: given} : {index});
      const order = r.scores.map((s, i) => i).sort((a, b) => r.scores[b] - r.scores[a]);
      const lo = Math.min(...r.scores), hi = Math.max(...r.scores);
      const rows = order.map((i) => {
        const bar = el("span", {class: "bar"});
        bar.style.width = `${Math.round(4 + 160 * (r.scores[i] - lo) / ((hi - lo) || 1))}px`;  // CSSOM: allowed by the CSP
        return el("tr", {class: i === r.best ? "best" : null},
          el("td", {text: r.classes[i]}), el("td", {class: "num", text: r.scores[i].toFixed(3)}), el("td", {}, bar));
      });
      out.replaceChildren(el("figure", {}, image(r.image, "big"), el("figcaption", {text: `test image ${index}`})),
        el("table", {class: "scores"}, el("tr", {}, el("th", {text: "class"}), el("th", {text: "cosine"}), el("th", {})), rows));
      out.dataset.done = "1";
      say(msg, `zero-shot: ${r.classes[r.best]}` + (r.label === null ? "" : ` (true class: ${r.classes[r.label]})`), "ok");
    } catch (err) { say(msg, err.message, "error"); }
  }
  api("GET", `/api/runs/${encodeURIComponent(info.name)}/gallery`).then((items) => {
    for (const g of items) {
      const t = image(g.image, "", `test image ${g.index}`);
      t.title = "click to classify it";
      t.addEventListener("click", () => run(g.index));
      thumbs.append(t);
    }
  }).catch((err) => say(msg, err.message, "error"));
  return el("section", {class: "panel", id: "classify-panel"}, el("h2", {text: "Zero-shot classification"}),
    el("p", {class: "muted", text: "Click a test image: the class whose prompts its embedding is nearest to. No classifier was trained; type your own classes to try others."}),
    classes, thumbs, out, msg);
}

// Text runs: a prompt box; the text grows as the tokens are drawn.
function textPanel(info) {
  const msg = el("div", {class: "msg"});
  const out = el("pre", {class: "text", id: "text-output"});
  const prompt = el("textarea", {name: "prompt", maxlength: null, placeholder: info.text.prompt ? "the text to continue" : "(this model takes no prompt)"});
  const button = el("button", {type: "submit", text: "Generate"});
  const stop = stopButton();
  const form = el("form", {novalidate: true, id: "text-form"},
    info.text.prompt ? prompt : null,
    el("div", {class: "row"}, numberField("seed", "seed", 0, 0), info.sample.map(optionField), button, stop));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    const head = el("b", {text: prompt.value}), tail = document.createTextNode("");
    out.replaceChildren(head, tail);
    say(msg, "generating...");
    try {
      const job = await api("POST", `/api/runs/${encodeURIComponent(info.name)}/text`,
        {prompt: info.text.prompt ? prompt.value : "", seed: readNumber(form, "seed"), options: readOptions(form, info.sample)});
      stop.start(job);
      const view = await follow(job, (v) => { tail.textContent = v.text; });
      out.dataset.done = "1";
      say(msg, (view.cancelled ? "stopped: " : "") + `${view.text.length} characters in ${view.seconds} s`, "ok");
    } catch (err) {
      out.replaceChildren();
      say(msg, err.message, "error");
    } finally {
      button.disabled = false;
      stop.end();
    }
  });
  return el("section", {class: "panel", id: "text-panel"}, el("h2", {text: "Generate text"}), form, msg, out);
}

// Several runs side by side, image i of every run drawn with seed + i.
async function comparePage(main) {
  const q = new URLSearchParams(location.search);
  const {runs} = await api("GET", "/api/runs");
  const names = (q.get("runs") || runs.filter((r) => r.sample && r.kind !== "tokens" && !r.prompt_images).map((r) => r.name).join(",")).split(",").filter(Boolean);
  const seed = Number(q.get("seed") || 0), n = Number(q.get("n") || 8);
  document.title = "compare - genlab serve";
  const msg = el("div", {class: "msg"});
  const table = el("table", {class: "compare"});
  main.replaceChildren(el("h1", {text: "Compare"}),
    el("p", {class: "muted", text: `Image i of every run is drawn with seed ${seed} + i (the same seeds a run's own page uses).`}),
    el("section", {class: "panel"}, msg, table));
  await Promise.all(names.map(async (name) => {
    const cells = el("td", {}, el("div", {class: "grid"}));
    const status = el("div", {class: "msg"});
    table.append(el("tr", {}, el("td", {class: "name"}, el("a", {href: `/run/${encodeURIComponent(name)}`, text: name}), status), cells));
    try {
      const job = await api("POST", `/api/runs/${encodeURIComponent(name)}/sample`, {n, seed});
      const view = await follow(job, (v) => {
        for (const it of v.items) cells.firstChild.append(el("figure", {}, image(it.image), el("figcaption", {text: `seed ${it.seed}`})));
      });
      say(status, `${view.seconds} s`, "ok");
    } catch (err) {
      say(status, err.message, "error");
    }
  }));
}

async function route() {
  const main = document.getElementById("main");
  const nav = document.getElementById("nav");
  nav.replaceChildren(el("a", {href: "/", text: "runs"}), el("a", {href: "/compare", text: "compare"}));
  const path = decodeURIComponent(location.pathname);
  try {
    if (path === "/") await indexPage(main);
    else if (path === "/compare") await comparePage(main);
    else if (path.startsWith("/run/")) await runPage(main, path.slice(5));
    else throw new Error(`no page ${path}; the runs are listed on the first page`);
  } catch (err) {
    const box = el("div", {class: "msg"});
    say(box, err.message, "error");
    main.replaceChildren(el("h1", {text: "genlab serve"}), box, el("p", {}, el("a", {href: "/", text: "all runs"})));
  }
}

route();
