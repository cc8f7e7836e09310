// Runs the official `convex` npm client's ConvexClient (WebSocket sync protocol, with the
// `ws` package as its WebSocket) against a convoke server, then raw-protocol checks.
//
// Started by tests/http_interop.rs with CONVOKE_URL (the server), CONVOKE_TOKEN (a valid
// JWT for subject "ada") and CONVOKE_BAD_TOKEN (an expired one). The procedures are those
// of tests/http_support/app.rs. Exits non-zero on the first failed check. The scenario
// numbers are those of shared/research/convex-sync-protocol.md §5.

import assert from "node:assert/strict";
import { check, checks, quiet } from "./check.mjs";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { ConvexError } from "convex/values";
import WebSocket from "ws";
import { createPrivateKey, sign } from "node:crypto";
import { readFileSync } from "node:fs";

const url = process.env.CONVOKE_URL;
const token = process.env.CONVOKE_TOKEN;
const badToken = process.env.CONVOKE_BAD_TOKEN;
/// A token signed here (RS256, the fixture key `rsa1`, kid `rsa-1`) that expires `seconds`
/// from now: the test config has no leeway.
function tokenExpiringIn(seconds) {
  const claims = { ...JSON.parse(process.env.CONVOKE_CLAIMS), iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + seconds };
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const signed = `${b64({ alg: "RS256", typ: "JWT", kid: "rsa-1" })}.${b64(claims)}`;
  const key = createPrivateKey({ key: readFileSync(process.env.CONVOKE_KEY_DER), format: "der", type: "pkcs1" });
  return `${signed}.${sign("sha256", Buffer.from(signed), key).toString("base64url")}`;
}
assert.ok(url && token && badToken, "CONVOKE_URL, CONVOKE_TOKEN and CONVOKE_BAD_TOKEN must be set");
const api = anyApi;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function newClient() {
  return new ConvexClient(url, { webSocketConstructor: WebSocket, logger: quiet, unsavedChangesWarning: false });
}

/// The values a subscription delivers, and a way to wait for one that passes a test.
function watch(client, query, args) {
  const values = [];
  const errors = [];
  const waiters = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  const unsubscribe = client.onUpdate(
    query,
    args,
    (value) => {
      values.push(value);
      wake();
    },
    (error) => {
      errors.push(error);
      wake();
    },
  );
  async function until(test) {
    for (;;) {
      if (test()) return;
      await new Promise((resolve) => waiters.push(resolve));
    }
  }
  return { values, errors, until, unsubscribe, last: () => values[values.length - 1] };
}

const http = new ConvexHttpClient(url, { logger: quiet });
const client = newClient();

await check("1-2. a subscription gets its first value", async () => {
  const notes = watch(client, api.app.list_notes, {});
  await notes.until(() => notes.values.length >= 1);
  assert.ok(Array.isArray(notes.last()));
  notes.unsubscribe();
});

await check("3. a failing query calls onError with the ConvexError's data", async () => {
  const refused = watch(client, api.app.refuse, {});
  await refused.until(() => refused.errors.length >= 1);
  assert.ok(refused.errors[0] instanceof ConvexError, `got ${refused.errors[0]}`);
  assert.equal(refused.errors[0].data, "not today");
  refused.unsubscribe();
});

await check("4. a commit by another client reaches the subscription; an unrelated one does not", async () => {
  const id = await http.mutation(api.app.add_note, { text: "watched" });
  const one = watch(client, api.app.get_note, { id });
  await one.until(() => one.values.length >= 1);
  assert.equal(one.last(), "watched");
  const list = watch(client, api.app.list_notes, {});
  await list.until(() => list.values.length >= 1);
  const before = list.last().length;
  // A new note changes the list, not the one note read by id.
  await http.mutation(api.app.add_note, { text: "elsewhere" });
  await list.until(() => list.last().length === before + 1);
  await sleep(200);
  assert.equal(one.values.length, 1, `the note read by id was re-sent: ${JSON.stringify(one.values)}`);
  one.unsubscribe();
  list.unsubscribe();
});

await check("5. await mutation() resolves with its writes already visible to subscribers", async () => {
  const list = watch(client, api.app.list_notes, {});
  await list.until(() => list.values.length >= 1);
  for (let i = 0; i < 5; i++) {
    const text = `ryw ${i}`;
    await client.mutation(api.app.add_note, { text });
    assert.ok(list.last().includes(text), `after await, the list lacks ${text}: ${JSON.stringify(list.last())}`);
  }
  list.unsubscribe();
});

await check("5. a mutation that changes no subscribed query still resolves", async () => {
  assert.equal(await client.mutation(api.app.join_team, { n: 1 }), null);
});

await check("6. a failed mutation rejects at once with ConvexError data", async () => {
  const error = await client.mutation(api.app.join_team, { n: 11 }).then(
    () => assert.fail("expected a rejection"),
    (e) => e,
  );
  assert.ok(error instanceof ConvexError, `got ${error}`);
  assert.deepEqual(error.data, { max: 10n, code: "TEAM_FULL" });
});

await check("6. an unknown mutation rejects with the server's message", async () => {
  const error = await client.mutation(api.app.no_such_mutation, {}).then(
    () => assert.fail("expected a rejection"),
    (e) => e,
  );
  assert.match(String(error.message), /Could not find public function for 'app:no_such_mutation'/);
});

await check("8, 19. one-shot queries back to back (subscribe, first value, unsubscribe)", async () => {
  assert.equal(await client.query(api.app.add, { a: 2, b: 3 }), 5n);
  assert.equal(await client.query(api.app.add, { a: 2, b: 3 }), 5n);
  assert.equal(await client.query(api.app.add, { a: 40, b: 2 }), 42n);
});

await check("9. two identical subscriptions both get values, and one stays after the other goes", async () => {
  const a = watch(client, api.app.list_notes, {});
  const b = watch(client, api.app.list_notes, {});
  await a.until(() => a.values.length >= 1);
  await b.until(() => b.values.length >= 1);
  a.unsubscribe();
  await http.mutation(api.app.add_note, { text: "dedup" });
  await b.until(() => b.last().includes("dedup"));
  b.unsubscribe();
});

await check("10. setAuth: queries re-run as the user", async () => {
  const authed = newClient();
  const changes = [];
  authed.setAuth(async () => token, (isAuthenticated) => changes.push(isAuthenticated));
  const me = watch(authed, api.app.whoami, {});
  await me.until(() => me.last()?.subject === "ada");
  assert.equal(changes[changes.length - 1], true);
  // A mutation runs as the user too.
  const id = await authed.mutation(api.app.add_note, { text: "mine" });
  assert.match(id, /^notes:/);
  me.unsubscribe();
  await authed.close();
});

await check("11. a bad token: the client reports unauthenticated and goes on anonymously", async () => {
  const refused = newClient();
  const changes = [];
  refused.setAuth(async () => badToken, (isAuthenticated) => changes.push(isAuthenticated));
  await (async () => {
    while (!changes.includes(false)) await sleep(20);
  })();
  assert.equal(await refused.query(api.app.whoami, {}), null);
  await refused.close();
});

await check("12. clearAuth: queries re-run as anonymous", async () => {
  const authed = newClient();
  authed.setAuth(async () => token);
  const me = watch(authed, api.app.whoami, {});
  await me.until(() => me.last()?.subject === "ada");
  authed.client.clearAuth();
  await me.until(() => me.last() === null);
  me.unsubscribe();
  await authed.close();
});

await check("14. actions resolve with their result", async () => {
  assert.equal(await client.action(api.app.shout, { text: "hi" }), "HI");
  assert.equal(await client.action(api.app.add_and_count, { text: "from an action" }) > 0, true);
});

await client.close();

// ---------------------------------------------------------------------------------------
// Raw protocol: what the official client never sends.
// ---------------------------------------------------------------------------------------

const syncUrl = url.replace(/^http/, "ws") + "/api/1.48.0/sync";

/// A raw socket: send frames, read the server's messages in order.
function raw() {
  const ws = new WebSocket(syncUrl);
  const messages = [];
  const waiters = [];
  let closed = null;
  ws.on("message", (data) => {
    messages.push(JSON.parse(String(data)));
    for (const w of waiters.splice(0)) w();
  });
  ws.on("close", (code, reason) => {
    closed = { code, reason: String(reason) };
    for (const w of waiters.splice(0)) w();
  });
  const opened = new Promise((resolve, reject) => {
    ws.on("open", resolve);
    ws.on("error", reject);
  });
  return {
    opened,
    messages,
    send: (message) => ws.send(typeof message === "string" ? message : JSON.stringify(message)),
    async next(test = () => true) {
      for (;;) {
        const i = messages.findIndex(test);
        if (i >= 0) return messages.splice(0, i + 1)[i];
        if (closed) throw new Error(`socket closed (${closed.code} ${closed.reason}) while waiting`);
        await new Promise((resolve) => waiters.push(resolve));
      }
    },
    async closedWith() {
      while (!closed) await new Promise((resolve) => waiters.push(resolve));
      return closed;
    },
    close: () => ws.close(),
  };
}

const connect = { type: "Connect", sessionId: "00000000-0000-4000-8000-000000000000", connectionCount: 0, lastCloseReason: "InitialConnect", clientTs: Date.now() };

await check("raw: the handshake's empty query set gets a transition from version 0", async () => {
  const s = raw();
  await s.opened;
  s.send(connect);
  s.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [] });
  const t = await s.next();
  assert.equal(t.type, "Transition");
  assert.deepEqual(t.startVersion, { querySet: 0, identity: 0, ts: "AAAAAAAAAAA=" });
  assert.equal(t.endVersion.querySet, 1);
  assert.equal(t.endVersion.ts.length, 12);
  s.close();
});

await check("raw: a MutationResponse comes before any transition at or past its ts", async () => {
  const s = raw();
  await s.opened;
  s.send(connect);
  s.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 0, udfPath: "app:list_notes", args: [{}] }] });
  const first = await s.next((m) => m.type === "Transition");
  const u64 = (b64) => Buffer.from(b64, "base64").readBigUInt64LE();
  for (let i = 0; i < 10; i++) {
    s.send({ type: "Mutation", requestId: i, udfPath: "app:add_note", args: [{ text: `raw ${i}` }] });
  }
  let version = first.endVersion;
  const done = new Map();
  while (done.size < 10 || [...done.values()].some((ts) => u64(version.ts) < ts)) {
    const m = await s.next();
    if (m.type === "MutationResponse") {
      assert.equal(m.success, true, JSON.stringify(m));
      // No transition already sent may be at or past this mutation's commit.
      assert.ok(u64(m.ts) > u64(version.ts), `response ${m.requestId} at ${m.ts} after a transition at ${version.ts}`);
      done.set(m.requestId, u64(m.ts));
    } else if (m.type === "Transition") {
      assert.deepEqual(m.startVersion, version, "transitions must chain");
      version = m.endVersion;
      const value = m.modifications.find((x) => x.queryId === 0)?.value;
      // Every mutation answered at or before this transition's ts shows in its value.
      if (value) {
        for (const [r, ts] of done) {
          if (u64(version.ts) >= ts) assert.ok(value.includes(`raw ${r}`), `transition at ${version.ts} lacks raw ${r}`);
        }
      }
    }
  }
  s.close();
});

for (const [name, frame, needle] of [
  ["malformed JSON", "{not json", /invalid sync message/],
  ["an unknown message type", { type: "Teleport" }, /invalid sync message/],
  ["a wrong query-set base version", { type: "ModifyQuerySet", baseVersion: 5, newVersion: 6, modifications: [] }, /BaseVersionMismatch/],
  ["args that are not a one-element array", { type: "Mutation", requestId: 0, udfPath: "app:add_note", args: {} }, /invalid sync message/],
]) {
  await check(`raw: ${name} gets FatalError and a close, and the server goes on`, async () => {
    const s = raw();
    await s.opened;
    s.send(connect);
    s.send(frame);
    const fatal = await s.next((m) => m.type === "FatalError");
    assert.match(fatal.error, needle);
    const closed = await s.closedWith();
    assert.equal(closed.code, 1008);
    assert.equal(await http.query(api.app.add, { a: 1, b: 1 }), 2n);
  });
}

await check("raw: more queries than the limit (1,000) get FatalError TooManyQueries", async () => {
  const s = raw();
  await s.opened;
  s.send(connect);
  const modifications = Array.from({ length: 1001 }, (_, i) => ({ type: "Add", queryId: i, udfPath: "app:add", args: [{ a: i, b: 1 }] }));
  s.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications });
  const fatal = await s.next((m) => m.type === "FatalError");
  assert.match(fatal.error, /TooManyQueries/);
  await s.closedWith();
});

await check("raw: a message over 8 MiB closes the socket with 1009, and the server goes on", async () => {
  const s = raw();
  await s.opened;
  s.send(connect);
  s.send({ type: "Mutation", requestId: 0, udfPath: "app:add_note", args: [{ text: "x".repeat(9 << 20) }] });
  const closed = await s.closedWith();
  // 1009 when the close frame is read before the connection is reset under the client's
  // unfinished upload (1006): docs/sync.md.
  assert.ok([1009, 1006].includes(closed.code), JSON.stringify(closed));
  assert.equal(await http.query(api.app.add, { a: 1, b: 2 }), 3n);
});

await check("raw: a bad token gets AuthError (authUpdateAttempted) and a close", async () => {
  const s = raw();
  await s.opened;
  s.send(connect);
  s.send({ type: "Authenticate", tokenType: "User", value: badToken, baseVersion: 0 });
  const error = await s.next((m) => m.type === "AuthError");
  assert.equal(error.authUpdateAttempted, true);
  assert.equal(error.baseVersion, 0);
  await s.closedWith();
});

await check("raw (16): an idle socket gets Ping (the test server pings after 500 ms)", async () => {
  const s = raw();
  await s.opened;
  s.send(connect);
  s.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [] });
  await s.next((m) => m.type === "Transition");
  const started = Date.now();
  await s.next((m) => m.type === "Ping");
  assert.ok(Date.now() - started < 3000);
  s.close();
});

await check("raw (11): when the session's token expires, AuthError (authUpdateAttempted false) and a close", async () => {
  const shortToken = tokenExpiringIn(3);
  const s = raw();
  await s.opened;
  s.send(connect);
  s.send({ type: "Authenticate", tokenType: "User", value: shortToken, baseVersion: 0 });
  s.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 0, udfPath: "app:whoami", args: [{}] }] });
  const t = await s.next((m) => m.type === "Transition" && m.modifications.some((x) => x.queryId === 0));
  assert.equal(t.endVersion.identity, 1);
  assert.equal(t.modifications.find((x) => x.queryId === 0).value.subject, "ada");
  const error = await s.next((m) => m.type === "AuthError");
  assert.equal(error.authUpdateAttempted, false);
  assert.equal(error.baseVersion, 1);
  await s.closedWith();
});

await check("raw: a query of an unknown function fails, the socket stays", async () => {
  const s = raw();
  await s.opened;
  s.send(connect);
  s.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 7, udfPath: "app:nope", args: [{}] }] });
  const t = await s.next((m) => m.type === "Transition");
  const failed = t.modifications.find((m) => m.queryId === 7);
  assert.equal(failed.type, "QueryFailed");
  assert.match(failed.errorMessage, /Could not find public function for 'app:nope'/);
  s.send({ type: "ModifyQuerySet", baseVersion: 1, newVersion: 2, modifications: [{ type: "Remove", queryId: 7 }] });
  const removed = await s.next((m) => m.type === "Transition");
  assert.deepEqual(removed.modifications, [{ type: "QueryRemoved", queryId: 7 }]);
  s.close();
});

await check("raw (13): a mutation re-sent on a new socket of the same session runs once", async () => {
  const session = { ...connect, sessionId: "11111111-1111-4111-8111-111111111111" };
  const send = { type: "Mutation", requestId: 3, udfPath: "app:add_note", args: [{ text: "exactly once" }] };
  const first = raw();
  await first.opened;
  first.send(session);
  first.send(send);
  const a = await first.next((m) => m.type === "MutationResponse");
  assert.equal(a.success, true, JSON.stringify(a));
  first.close();
  const second = raw();
  await second.opened;
  second.send({ ...session, connectionCount: 1, lastCloseReason: "closed with code 1005", maxObservedTimestamp: a.ts });
  second.send(send);
  const b = await second.next((m) => m.type === "MutationResponse");
  assert.equal(b.success, true, JSON.stringify(b));
  assert.equal(b.result, a.result, "the replay returns the recorded result");
  const notes = await http.query(api.app.list_notes, {});
  assert.equal(notes.filter((t) => t === "exactly once").length, 1, JSON.stringify(notes));
  // Another session's request 3 is another request.
  const other = raw();
  await other.opened;
  other.send({ ...connect, sessionId: "22222222-2222-4222-8222-222222222222" });
  other.send(send);
  const c = await other.next((m) => m.type === "MutationResponse");
  assert.notEqual(c.result, a.result);
  second.close();
  other.close();
});

await check("raw (15): a subscribed page keeps its boundary under inserts and across reconnects", async () => {
  for (let i = 0; i < 5; i++) await http.mutation(api.app.add_note, { text: `page note ${i}` });
  const page0 = { type: "Add", queryId: 0, udfPath: "app:notes_page", args: [{ paginationOpts: { numItems: 2, cursor: null, id: 1 } }] };
  const s = raw();
  await s.opened;
  s.send(connect);
  s.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [page0] });
  const first = (await s.next((m) => m.type === "Transition")).modifications[0];
  assert.equal(first.type, "QueryUpdated", JSON.stringify(first));
  assert.deepEqual(first.value.page, ["page note 4", "page note 3"]);
  assert.equal(first.value.isDone, false);
  assert.equal(typeof first.journal, "string", "a paginated query has a journal");
  // Page 1 from page 0's continueCursor.
  const page1 = { type: "Add", queryId: 1, udfPath: "app:notes_page", args: [{ paginationOpts: { numItems: 2, cursor: first.value.continueCursor, id: 1 } }] };
  s.send({ type: "ModifyQuerySet", baseVersion: 1, newVersion: 2, modifications: [page1] });
  const second = (await s.next((m) => m.type === "Transition")).modifications[0];
  assert.deepEqual(second.value.page, ["page note 2", "page note 1"]);
  // A new note lands inside page 0 (newest first): page 0 grows, its end stays, page 1 is
  // not re-sent.
  await http.mutation(api.app.add_note, { text: "page note 5" });
  const grown = await s.next((m) => m.type === "Transition" && m.modifications.length > 0);
  assert.equal(grown.modifications.length, 1, JSON.stringify(grown.modifications));
  assert.equal(grown.modifications[0].queryId, 0);
  assert.deepEqual(grown.modifications[0].value.page, ["page note 5", "page note 4", "page note 3"]);
  assert.equal(grown.modifications[0].value.continueCursor, first.value.continueCursor);
  s.close();
  // Reconnect: page 0 re-added with its journal keeps the same boundary.
  const again = raw();
  await again.opened;
  again.send(connect);
  again.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ ...page0, journal: grown.modifications[0].journal }] });
  const back = (await again.next((m) => m.type === "Transition")).modifications[0];
  assert.deepEqual(back.value.page, ["page note 5", "page note 4", "page note 3"]);
  // Without the journal, a new subscription starts a fresh page of 2.
  again.send({ type: "ModifyQuerySet", baseVersion: 1, newVersion: 2, modifications: [{ ...page0, queryId: 9 }] });
  const fresh = (await again.next((m) => m.type === "Transition")).modifications[0];
  assert.deepEqual(fresh.value.page, ["page note 5", "page note 4"]);
  again.close();
});

await check("raw: identical subscriptions on several sockets share one run per commit", async () => {
  const sockets = [raw(), raw(), raw()];
  for (const s of sockets) {
    await s.opened;
    s.send(connect);
    s.send({ type: "ModifyQuerySet", baseVersion: 0, newVersion: 1, modifications: [{ type: "Add", queryId: 5, udfPath: "app:counted_notes", args: [{}] }] });
    await s.next((m) => m.type === "Transition" && m.modifications.length === 1);
  }
  const before = await http.query(api.app.counted_runs, {});
  await http.mutation(api.app.add_note, { text: "shared run" });
  for (const s of sockets) {
    await s.next((m) => m.type === "Transition" && m.modifications[0]?.value?.includes("shared run"));
  }
  const after = await http.query(api.app.counted_runs, {});
  assert.equal(after - before, 1n, `ran ${after - before} times for 3 sockets`);
  for (const s of sockets) s.close();
});

await check("raw: GET /api/<not a version>/sync is refused with 400", async () => {
  const response = await fetch(url + "/api/latest/sync");
  assert.equal(response.status, 400);
  assert.match(await response.text(), /InvalidVersion/);
});

console.log(`${checks()} checks passed`);
process.exit(0);
