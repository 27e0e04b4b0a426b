// The dashboard page served at GET /dashboard: one static document, plain DOM and SVG, no
// build step and no library. It reads /v1/dashboard/stream (a snapshot a second), the tap
// tail from /v1/taps and actors from /v1/actors/...; with auth, it sends the token the user
// typed (kept in sessionStorage) as a bearer token, so streams are read with fetch, not
// EventSource (which cannot send headers). Rendering is throttled: a snapshot redraws the
// cards once; the tap tail keeps 200 lines and redraws at most four times a second.
// (No backticks or dollar-brace sequences below: the page is a template literal.)
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Anywhere dashboard</title>
<style>
  :root { --bg: #0f1419; --card: #1a2129; --text: #e6e6e6; --dim: #8b949e; --up: #3fb950; --down: #f85149; --warn: #d29922; --accent: #58a6ff; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--text); }
  header { display: flex; gap: 1em; align-items: baseline; padding: 12px 16px; border-bottom: 1px solid #30363d; flex-wrap: wrap; }
  header h1 { font-size: 18px; margin: 0; }
  .dim { color: var(--dim); }
  main { padding: 16px; display: grid; gap: 16px; }
  section h2 { font-size: 15px; margin: 0 0 8px; }
  #geos { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 10px; }
  .geo { background: var(--card); border-radius: 8px; padding: 10px 12px; border-left: 4px solid var(--dim); }
  .geo[data-status="up"] { border-left-color: var(--up); }
  .geo[data-status="down"] { border-left-color: var(--down); }
  .geo[data-status="self"] { border-left-color: var(--accent); }
  .geo h3 { margin: 0 0 4px; font-size: 15px; display: flex; justify-content: space-between; }
  .badge { font-size: 12px; padding: 1px 6px; border-radius: 10px; background: #30363d; }
  .geo[data-status="up"] .badge { background: #1f3d27; color: var(--up); }
  .geo[data-status="down"] .badge { background: #4a1e1e; color: var(--down); }
  .kv { display: grid; grid-template-columns: auto 1fr; gap: 0 8px; font-size: 13px; }
  .kv dt { color: var(--dim); } .kv dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
  svg.spark { width: 100%; height: 28px; display: block; margin-top: 4px; }
  .panel { background: var(--card); border-radius: 8px; padding: 10px 12px; }
  .two { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
  @media (max-width: 900px) { .two { grid-template-columns: 1fr; } }
  ul.list { list-style: none; margin: 0; padding: 0; max-height: 320px; overflow: auto; font-size: 13px; }
  ul.list li { padding: 4px 0; border-bottom: 1px solid #30363d; word-break: break-word; }
  pre { margin: 0; white-space: pre-wrap; word-break: break-word; font-size: 12px; max-height: 320px; overflow: auto; }
  input, select, button { font: inherit; background: #0d1117; color: var(--text); border: 1px solid #30363d; border-radius: 6px; padding: 3px 8px; }
  button { cursor: pointer; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; }
  td, th { text-align: left; padding: 2px 6px; border-bottom: 1px solid #30363d; }
  #auth { display: none; }
  .error { color: var(--down); }
</style>
</head>
<body>
<header>
  <h1>Anywhere <span id="title" class="dim"></span></h1>
  <span id="link" class="dim">connecting</span>
  <span id="auth">token <input id="token" type="password" size="24"> <button id="save-token">use</button></span>
</header>
<main>
  <section>
    <h2>Geos</h2>
    <div id="geos"></div>
  </section>
  <div class="two">
    <section class="panel">
      <h2>Recent conflicts <span class="dim">(re-folds: a replicated event sorted before ones already applied)</span></h2>
      <ul id="conflicts" class="list"><li class="dim" id="no-conflicts">none yet</li></ul>
    </section>
    <section class="panel">
      <h2>Actor lookup</h2>
      <form id="lookup">
        <select id="actor-type"></select>
        <input id="actor-id" placeholder="id" required>
        <button>look up</button>
      </form>
      <div id="actor-result" style="margin-top:8px"></div>
    </section>
  </div>
  <section class="panel">
    <h2>Taps <span class="dim">live tail</span></h2>
    <form id="tap-form">
      kinds <input id="tap-kinds" size="60" value="peer.connected,peer.lost,peer.refused,partition.healed,event.reordered,clock.skew,store.unavailable,store.available,frame.rejected">
      <button>apply</button> <button type="button" id="tap-all">all kinds</button> <button type="button" id="tap-pause">pause</button>
      <span id="tap-rate" class="dim"></span>
    </form>
    <ul id="taps" class="list"></ul>
  </section>
</main>
<script>
"use strict";
var HISTORY = 60, TAP_LINES = 200;
var state = { snapshot: null, series: {}, tapLines: [], tapDirty: false, paused: false, tapCount: 0 };

function el(tag, attrs, children) {
  var node = document.createElement(tag);
  for (var k in attrs || {}) {
    if (k === "text") node.textContent = attrs[k]; else node.setAttribute(k, attrs[k]);
  }
  (children || []).forEach(function (c) { node.appendChild(c); });
  return node;
}
function headers() {
  var token = sessionStorage.getItem("anywhere-token");
  return token ? { authorization: "Bearer " + token } : {};
}
function needToken() {
  document.getElementById("auth").style.display = "inline";
}
document.getElementById("save-token").onclick = function () {
  sessionStorage.setItem("anywhere-token", document.getElementById("token").value.trim());
  location.reload();
};
function ms(value) {
  if (value === undefined || value === null) return "-";
  return value < 1000 ? Math.round(value) + " ms" : (value / 1000).toFixed(1) + " s";
}
function rate(value) {
  return value >= 100 ? Math.round(value) + "/s" : value.toFixed(1) + "/s";
}

// Server-sent events read through fetch (so a bearer token can be sent); reconnects with backoff.
function stream(url, onEvent, onState) {
  var controller = null, delay = 500, stopped = false;
  function connect() {
    controller = new AbortController();
    fetch(url, { headers: headers(), signal: controller.signal }).then(function (response) {
      if (response.status === 401 || response.status === 403) { needToken(); onState("needs an admin token"); throw new Error("auth"); }
      if (!response.ok || !response.body) throw new Error("status " + response.status);
      onState("live"); delay = 500;
      var reader = response.body.getReader(), decoder = new TextDecoder(), buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) throw new Error("ended");
          buffer += decoder.decode(chunk.value, { stream: true });
          var end;
          while ((end = buffer.indexOf("\\n\\n")) >= 0) {
            var block = buffer.slice(0, end); buffer = buffer.slice(end + 2);
            var kind = "message", data = "";
            block.split("\\n").forEach(function (line) {
              if (line.indexOf("event: ") === 0) kind = line.slice(7);
              else if (line.indexOf("data: ") === 0) data += line.slice(6);
            });
            if (data) { try { onEvent(kind, JSON.parse(data)); } catch (e) { /* a torn line: skip */ } }
          }
          return pump();
        });
      }
      return pump();
    }).catch(function (error) {
      if (stopped || String(error && error.message) === "auth") return;
      onState("reconnecting");
      setTimeout(connect, delay); delay = Math.min(delay * 2, 5000);
    });
  }
  connect();
  return { stop: function () { stopped = true; if (controller) controller.abort(); } };
}

function push(key, value) {
  var list = state.series[key] || (state.series[key] = []);
  list.push(value); if (list.length > HISTORY) list.shift();
}
function spark(values, color) {
  var ns = "http://www.w3.org/2000/svg";
  var svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("viewBox", "0 0 " + HISTORY + " 28"); svg.setAttribute("preserveAspectRatio", "none");
  var max = Math.max.apply(null, values.concat([1]));
  var points = values.map(function (v, i) { return (i + HISTORY - values.length) + "," + (27 - (v / max) * 26).toFixed(1); }).join(" ");
  var line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points); line.setAttribute("fill", "none"); line.setAttribute("stroke", color); line.setAttribute("stroke-width", "1");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.appendChild(line);
  return svg;
}
function kv(pairs) {
  var dl = el("dl", { class: "kv" });
  pairs.forEach(function (p) { dl.appendChild(el("dt", { text: p[0] })); dl.appendChild(el("dd", { text: p[1], "data-field": p[2] || "" })); });
  return dl;
}

function renderSnapshot(s) {
  document.getElementById("title").textContent = "geo " + s.geo + " \\u00b7 node " + s.nodeId;
  push("local", s.localEventsPerSecond);
  var cards = [];
  var self = el("div", { class: "geo", "data-geo": s.geo, "data-status": "self" }, [
    el("h3", {}, [el("span", { text: s.geo + " (this geo)" }), el("span", { class: "badge", text: "here" })]),
    kv([["events written", rate(s.localEventsPerSecond)], ["actors in memory", String(s.actorsInMemory)], ["mailbox backlog", String(s.mailboxBacklog), "backlog"]]),
    spark(state.series.local, "#58a6ff")
  ]);
  cards.push(self);
  s.peers.slice().sort(function (a, b) { return a.geo < b.geo ? -1 : a.geo > b.geo ? 1 : 0; }).forEach(function (p) {
    push("in:" + p.peerId, p.eventsInPerSecond); push("out:" + p.peerId, p.eventsOutPerSecond);
    var card = el("div", { class: "geo", "data-geo": p.geo, "data-peer": p.peerId, "data-status": p.connected ? "up" : "down", "data-lag-events": String(p.lagEvents) }, [
      el("h3", {}, [el("span", { text: p.geo }), el("span", { class: "badge", text: p.connected ? "connected" : "down" })]),
      kv([
        ["RTT", p.rttMs === undefined ? "-" : p.rttMs.toFixed(1) + " ms"],
        ["lag", p.lagEvents + " events \\u00b7 " + ms(p.lagMs), "lag"],
        ["events in / out", rate(p.eventsInPerSecond) + " / " + rate(p.eventsOutPerSecond)],
        [p.connected ? "up since" : "down since", new Date(p.since).toLocaleTimeString()]
      ]),
      spark(state.series["out:" + p.peerId], "#3fb950")
    ]);
    if (p.lastError) card.appendChild(el("div", { class: "error", text: p.lastError }));
    cards.push(card);
  });
  var geos = document.getElementById("geos");
  geos.replaceChildren.apply(geos, cards);
  renderConflicts(s.conflicts);
}

function short(value) {
  var text = JSON.stringify(value);
  return text && text.length > 160 ? text.slice(0, 157) + "..." : String(text);
}
function renderConflicts(conflicts) {
  var list = document.getElementById("conflicts");
  if (conflicts.length === 0) return;
  list.replaceChildren.apply(list, conflicts.map(function (c) {
    var others = c.concurrent.map(function (e) { return e.origin + ":" + e.seq; }).join(", ") + (c.concurrentCount > c.concurrent.length ? " and " + (c.concurrentCount - c.concurrent.length) + " more" : "");
    return el("li", { class: "conflict", "data-actor": c.actor.type + "/" + c.actor.id }, [
      el("div", { text: new Date(c.at).toLocaleTimeString() + " " + c.actor.type + "/" + c.actor.id + ": " + c.late.origin + ":" + c.late.seq + " sorted before " + (others || "events already applied") }),
      el("div", { class: "dim", text: short(c.stateBefore) + " \\u2192 " + short(c.stateAfter) })
    ]);
  }));
}

// The tap tail: lines kept in a ring, drawn at most every 250 ms.
var tapStream = null;
function startTaps(kinds) {
  if (tapStream) tapStream.stop();
  state.tapLines = []; state.tapDirty = true;
  tapStream = stream("/v1/taps" + (kinds ? "?kind=" + encodeURIComponent(kinds) : ""), function (kind, data) {
    state.tapCount++;
    if (state.paused) return;
    state.tapLines.push(new Date(data.at || Date.now()).toLocaleTimeString() + " " + kind + " " + short(data).slice(0, 300));
    if (state.tapLines.length > TAP_LINES) state.tapLines.splice(0, state.tapLines.length - TAP_LINES);
    state.tapDirty = true;
  }, function () {});
}
setInterval(function () {
  if (!state.tapDirty) return;
  state.tapDirty = false;
  var list = document.getElementById("taps");
  list.replaceChildren.apply(list, state.tapLines.slice().reverse().map(function (line) { return el("li", { text: line }); }));
}, 250);
setInterval(function () {
  document.getElementById("tap-rate").textContent = state.tapCount + " tap events/s";
  state.tapCount = 0;
}, 1000);
document.getElementById("tap-form").onsubmit = function (e) { e.preventDefault(); startTaps(document.getElementById("tap-kinds").value.trim()); };
document.getElementById("tap-all").onclick = function () { document.getElementById("tap-kinds").value = ""; startTaps(""); };
document.getElementById("tap-pause").onclick = function (e) { state.paused = !state.paused; e.target.textContent = state.paused ? "resume" : "pause"; };

// Actor lookup: the state and the history in merge order.
fetch("/v1/actors", { headers: headers() }).then(function (r) { return r.ok ? r.json() : { actors: [] }; }).then(function (catalog) {
  var select = document.getElementById("actor-type");
  (catalog.actors || []).forEach(function (a) { select.appendChild(el("option", { value: a.type, text: a.type })); });
});
document.getElementById("lookup").onsubmit = function (e) {
  e.preventDefault();
  var type = encodeURIComponent(document.getElementById("actor-type").value), id = encodeURIComponent(document.getElementById("actor-id").value);
  var out = document.getElementById("actor-result");
  out.textContent = "loading";
  Promise.all([
    fetch("/v1/actors/" + type + "/" + id, { headers: headers() }).then(function (r) { return r.json(); }),
    fetch("/v1/actors/" + type + "/" + id + "/history?limit=100", { headers: headers() }).then(function (r) { return r.json(); })
  ]).then(function (results) {
    var history = results[1];
    var rows = (history.events || []).map(function (ev) {
      return el("tr", {}, [el("td", { text: ev.geo || "?" }), el("td", { text: ev.origin + ":" + ev.seq }), el("td", { text: new Date(ev.hlc.wall).toISOString().slice(11, 23) + "+" + ev.hlc.logical }), el("td", { text: ev.type }), el("td", { text: short(ev.payload) })]);
    });
    out.replaceChildren(
      el("pre", { id: "actor-state", text: JSON.stringify(results[0], null, 2) }),
      el("div", { class: "dim", text: "history: " + (history.total === undefined ? "-" : history.total + " events, merge order") }),
      el("table", {}, [el("tr", {}, ["geo", "event", "hlc", "type", "payload"].map(function (h) { return el("th", { text: h }); }))].concat(rows))
    );
  }).catch(function (error) { out.textContent = String(error); });
};

stream("/v1/dashboard/stream", function (kind, data) {
  if (kind === "snapshot") { state.snapshot = data; requestAnimationFrame(function () { renderSnapshot(state.snapshot); }); }
}, function (text) { document.getElementById("link").textContent = text; });
startTaps(document.getElementById("tap-kinds").value.trim());
</script>
</body>
</html>
`
