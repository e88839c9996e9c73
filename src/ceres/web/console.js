// Ceres console: a plain-JavaScript client of the CoinCeres protocol (no build step).
"use strict";
const $ = (id) => document.getElementById(id);
let trade = null, notify = null, market = null, ports = null, reqId = 0;

function log(kind, text) {
  const line = document.createElement("div");
  line.textContent = `${new Date().toLocaleTimeString()} ${kind} ${text}`;
  line.dataset.kind = kind;
  $("log").prepend(line);
}

async function sha256hex(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function wsUrl(port, query) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";  // a server with TLS speaks it on every port
  return `${scheme}://${location.hostname}:${port}/${query ? "?" + query : ""}`;
}

// A handshake signed with a fresh timestamp: accepted for every key (and required by keys
// or servers that demand timestamps); each socket needs its own (a sign opens one connection).
async function handshakeQuery(key, secret, ts) {
  const sign = await sha256hex(`api_key=${key}&timestamp=${ts}&secret=${secret}`);
  return `api_key=${encodeURIComponent(key)}&timestamp=${ts}&sign=${sign}`;
}

function send(obj) {
  obj.req_id = `c${++reqId}`;
  trade.send(JSON.stringify(obj));
  log("→", JSON.stringify(obj));
}

async function connect() {
  const config = await fetch("console/config.json");
  ports = await config.json();
  // the server's clock, from the reply's Date header (whole seconds: +500 ms on average),
  // so a browser with a wrong clock still signs a timestamp inside the server's window
  const served = Date.parse(config.headers.get("Date") || "");
  const skew = Number.isNaN(served) ? 0 : served + 500 - Date.now();
  const key = $("apiKey").value.trim(), secret = $("secret").value.trim();
  const ts = Date.now() + skew;
  trade = new WebSocket(wsUrl(ports.trade_ws, await handshakeQuery(key, secret, ts)));
  trade.addEventListener("open", () => {
    $("status").textContent = "connected";
    trade.send("ping");
    send({ biz_type: 13, exchange: "TEST" });
  });
  trade.addEventListener("close", () => { $("status").textContent = "disconnected"; });
  trade.addEventListener("error", () => log("!", "trade socket error (bad key or sign?)"));
  trade.addEventListener("message", (ev) => {
    log("←", ev.data);
    if (ev.data === "pong") return;
    const msg = JSON.parse(ev.data);
    if (msg.biz_type === 13 && msg.code === "200") fillContracts(msg.data);
    if (msg.biz_type === 11 && msg.code === "200") $("cancelId").value = msg.data.system_oid.split(",")[0];
  });
  notify = new WebSocket(wsUrl(ports.notify_ws, await handshakeQuery(key, secret, ts + 1)));
  notify.addEventListener("message", (ev) => log("notice", ev.data));
  market = new WebSocket(wsUrl(ports.market_ws, ""));
  market.addEventListener("message", (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.msg_type === "push-depth10") showDepth(msg);
  });
  market.addEventListener("open", () => subscribeDepth());
  setInterval(() => { if (trade.readyState === 1) trade.send("ping"); }, 50000);
}

function fillContracts(pairs) {
  const sel = $("contract");
  sel.innerHTML = "";
  for (const p of pairs) {
    const opt = document.createElement("option");
    opt.textContent = p.contract;
    opt.dataset.kind = p.kind;
    sel.appendChild(opt);
  }
  subscribeDepth();
}

let depthTopic = null;
function subscribeDepth() {
  if (!market || market.readyState !== 1 || !$("contract").value) return;
  const topic = { exchange: "TEST", contract: $("contract").value, duration: null };
  const msgs = [{ msg_type: "subscribe-depth10", ...topic }];
  if (depthTopic) msgs.unshift({ msg_type: "unsubscribe-depth10", ...depthTopic });
  depthTopic = topic;
  market.send(JSON.stringify(msgs));
}

function showDepth(msg) {
  if (!depthTopic || msg.contract !== depthTopic.contract) return;
  const row = (l) => `<tr><td>${l.price}</td><td>${l.volume}</td></tr>`;
  $("asks").innerHTML = msg.asks.slice().reverse().map(row).join("");
  $("bids").innerHTML = msg.bids.map(row).join("");
}

$("connect").addEventListener("click", () => connect().catch((e) => log("!", e)));
$("contract").addEventListener("change", subscribeDepth);
$("place").addEventListener("click", () => {
  const order = { biz_type: 11, exchange: "TEST", contract: $("contract").value,
                  price_type: $("priceType").value, entrust_vol: $("vol").value,
                  entrust_bs: $("side").value };
  if (order.price_type === "limit") order.entrust_price = $("price").value;
  if ($("tif").value) order.time_in_force = $("tif").value;
  if ($("postOnly").checked) order.post_only = "true";
  if ($("stp").value) order.stp = $("stp").value;
  if ($("futureDir").value) {
    order.future_dir = $("futureDir").value;
    order.lever = $("lever").value;
    if (order.future_dir === "close") order.close_rule = "time";
  }
  send(order);
});
$("cancel").addEventListener("click", () => send({ biz_type: 12, system_oid: $("cancelId").value }));
$("orders").addEventListener("click", () => send({ biz_type: 15 }));
$("account").addEventListener("click", () => send({ biz_type: 14 }));
$("cancelAll").addEventListener("click", () => send({ biz_type: 23 }));
$("armDeadman").addEventListener("click", () => send({ biz_type: 24, timeout_ms: $("deadman").value }));
