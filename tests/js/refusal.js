// One socket.io-client v4 connection, watched for a while: how a refusal reaches the
// client, and whether the client's own reconnection logic retries it.
//
//   node refusal.js <url> <transports> <watchMs> [options-json]
//
// <transports>: "default" (polling first, then the upgrade), "polling" or "websocket".
// [options-json]: {"token": "...", "headers": {...}} (both optional).
// Prints one JSON object per line: every connect / connect_error / disconnect / closing of
// the socket and every reconnect_attempt / open / error of its manager, each with "t", the
// milliseconds since io() was called; then {"summary": counts}.
"use strict";
const { io } = require("socket.io-client");

const [url, transports, watchMs, optionsJson] = process.argv.slice(2);
const given = optionsJson ? JSON.parse(optionsJson) : {};

const options = { forceNew: true, reconnectionDelay: 200, reconnectionDelayMax: 400 };
if (transports !== "default") options.transports = [transports];
if (given.token) options.auth = { token: given.token };
if (given.headers) options.extraHeaders = given.headers;

const counts = { connect: 0, connect_error: 0, reconnect_attempt: 0, open: 0, disconnect: 0 };
const started = Date.now();
const out = (o) => process.stdout.write(JSON.stringify({ t: Date.now() - started, ...o }) + "\n");
const socket = io(url, options);

socket.on("connect", () => { counts.connect += 1; out({ event: "connect", id: socket.id }); });
socket.on("connect_error", (err) => {
  counts.connect_error += 1;
  out({ event: "connect_error", message: err.message, data: err.data ?? null,
        description: err.description ? String(err.description.message ?? err.description) : null,
        active: socket.active });
});
socket.on("disconnect", (reason) => { counts.disconnect += 1; out({ event: "disconnect", reason }); });
socket.on("closing", (data) => out({ event: "closing", data }));
socket.io.on("reconnect_attempt", (n) => { counts.reconnect_attempt += 1; out({ event: "reconnect_attempt", n }); });
socket.io.on("open", () => { counts.open += 1; out({ event: "open" }); });
socket.io.on("error", (err) => out({ event: "manager_error", message: String(err && err.message) }));

setTimeout(() => {
  out({ summary: counts, active: socket.active, connected: socket.connected });
  socket.close();
  setTimeout(() => process.exit(0), 50);
}, Number(watchMs));
