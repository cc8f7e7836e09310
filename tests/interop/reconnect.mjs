// The official ConvexClient across a restart of the server (scenario 13 of
// shared/research/convex-sync-protocol.md §5). Started by tests/http_interop.rs: prints
// RESTART, then waits for UP on stdin while the server shuts down (closing the socket) and
// comes back on the same port with the same data.

import assert from "node:assert/strict";
import { check, checks, quiet } from "./check.mjs";
import { createInterface } from "node:readline";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import WebSocket from "ws";

const url = process.env.CONVOKE_URL;
const token = process.env.CONVOKE_TOKEN;
assert.ok(url && token, "CONVOKE_URL and CONVOKE_TOKEN must be set");
const api = anyApi;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const http = new ConvexHttpClient(url, { logger: quiet });
const client = new ConvexClient(url, { webSocketConstructor: WebSocket, logger: quiet, unsavedChangesWarning: false });
client.setAuth(async () => token);
const values = [];
let wake = () => {};
client.onUpdate(api.app.list_notes, {}, (v) => {
  values.push(v);
  wake();
});
const me = [];
client.onUpdate(api.app.whoami, {}, (v) => me.push(v));
async function until(test) {
  while (!test()) await new Promise((resolve) => (wake = resolve));
}
const last = () => values[values.length - 1];

await check("before the restart: the subscription has its value, as the user", async () => {
  await http.mutation(api.app.add_note, { text: "before" });
  await until(() => last()?.includes("before"));
  while (me[me.length - 1]?.subject !== "ada") await new Promise((r) => setTimeout(r, 20));
});

console.log("RESTART");
assert.equal((await lines.next()).value, "UP");

await check("after the restart: the client reconnects, re-subscribes and re-authenticates", async () => {
  // A commit made after the restart reaches the re-sent subscription.
  await http.mutation(api.app.add_note, { text: "after" });
  await until(() => last()?.includes("after"));
  assert.equal(me[me.length - 1]?.subject, "ada");
});

await check("after the restart: mutations over the new socket resolve with their writes visible", async () => {
  await client.mutation(api.app.add_note, { text: "over the new socket" });
  assert.ok(last().includes("over the new socket"), JSON.stringify(last()));
  const author = await client.query(api.app.whoami, {});
  assert.equal(author.subject, "ada");
});

await client.close();
console.log(`${checks()} checks passed`);
process.exit(0);
