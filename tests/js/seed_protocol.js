// One run of the original server's client protocol (seed-protocol.md) with the official
// socket.io-client v4, as a frontend written for the original would use it.
//
// node seed_protocol.js <config.json>
//   config: {url, transports: null|["polling"]|["websocket"], token, outsiderToken,
//            contract, others: [id, id, id], ingester, block, live, globalOwn,
//            globalOutsider, historyLimit, timeoutMs}
// Prints one JSON object per line: {who, event, data} for every frame received,
// {who, opened: transport} and {who, upgraded: transport} from the Engine.IO connection,
// {who, socketId, transport} once connected, {done: true} at the end.
// Exits 1 with {timeout: step} if a step does not complete in time.
"use strict";
const fs = require("fs");
const { io } = require("socket.io-client");

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
let step = "start";
const timer = setTimeout(() => { print({ timeout: step }); process.exit(1); },
                         cfg.timeoutMs || 30000);

function open(who, token) {
  const options = { auth: { token }, reconnection: false, forceNew: true };
  if (cfg.transports) options.transports = cfg.transports;
  const socket = io(cfg.url, options);
  socket.io.on("open", () => {
    const engine = socket.io.engine;
    print({ who, opened: engine.transport.name });
    engine.on("upgrade", (transport) => print({ who, upgraded: transport.name }));
  });
  const queues = new Map();
  const waiters = new Map();
  socket.onAny((event, data) => {
    print({ who, event, data });
    const waiting = waiters.get(event);
    if (waiting && waiting.length) waiting.shift()(data);
    else {
      if (!queues.has(event)) queues.set(event, []);
      queues.get(event).push(data);
    }
  });
  socket.on("connect_error", (err) => print({ who, connect_error: err.message, data: err.data }));
  // The next frame named `event` (already received or still to come).
  socket.next = (event) => {
    const queued = queues.get(event);
    if (queued && queued.length) return Promise.resolve(queued.shift());
    return new Promise((resolve) => {
      if (!waiters.has(event)) waiters.set(event, []);
      waiters.get(event).push(resolve);
    });
  };
  socket.times = async (event, n) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await socket.next(event));
    return out;
  };
  return socket;
}

async function main() {
  step = "connect";
  const own = open("own", cfg.token);
  const outsider = open("outsider", cfg.outsiderToken);
  await own.next("connected");
  await outsider.next("connected");
  print({ who: "own", socketId: own.id, transport: own.io.engine.transport.name });
  print({ who: "outsider", socketId: outsider.id, transport: outsider.io.engine.transport.name });

  step = "subscribe";
  own.emit("subscribe", { contractId: cfg.contract });
  await own.next("subscribed");
  step = "history pushed after subscribed";
  await own.next("history");

  step = "getHistory";
  own.emit("getHistory", { contractId: cfg.contract, limit: cfg.historyLimit });
  await own.next("history");

  step = "getStats";
  own.emit("getStats", { contractId: cfg.contract });
  await own.next("stats");

  step = "live events";
  const posted = await fetch(cfg.ingester + "/new_block", {
    method: "POST", headers: { "content-type": "application/json" },
    body: fs.readFileSync(cfg.block),
  });
  print({ posted: posted.status });
  await own.times("event", cfg.live);
  step = "global events";
  await own.times("global_event", cfg.globalOwn);
  await outsider.times("global_event", cfg.globalOutsider);

  step = "unsubscribe";
  own.emit("unsubscribe", { contractId: cfg.contract });
  await own.next("unsubscribed");
  step = "unsubscribe again";
  own.emit("unsubscribe", { contractId: cfg.contract });
  await own.next("error");

  step = "subscription limit";
  for (const other of cfg.others) own.emit("subscribe", { contractId: other });
  await own.times("subscribed", cfg.others.length - 1);
  await own.next("error");

  step = "ping";  // a round trip: nothing else is in flight behind it
  own.emit("ping");
  await own.next("pong");
  print({ who: "own", transport: own.io.engine.transport.name, end: true });
  own.close();
  outsider.close();
  clearTimeout(timer);
  print({ done: true });
}

main().catch((err) => { print({ error: String(err && err.stack || err) }); process.exit(1); });
