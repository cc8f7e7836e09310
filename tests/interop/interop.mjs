// Runs the official `convex` npm client (ConvexHttpClient) against a convoke server.
//
// Started by tests/http_interop.rs with CONVOKE_URL (the server), CONVOKE_TOKEN (a valid
// JWT for subject "ada") and CONVOKE_BAD_TOKEN (an expired one). The procedures are those
// of tests/http_support/app.rs. Exits non-zero on the first failed check.

import assert from "node:assert/strict";
import { check, checks, quiet } from "./check.mjs";
import { ConvexHttpClient } from "convex/browser";
import { anyApi } from "convex/server";
import { ConvexError } from "convex/values";

const url = process.env.CONVOKE_URL;
const token = process.env.CONVOKE_TOKEN;
const badToken = process.env.CONVOKE_BAD_TOKEN;
assert.ok(url && token && badToken, "CONVOKE_URL, CONVOKE_TOKEN and CONVOKE_BAD_TOKEN must be set");

const logged = [];
const logger = {
  log: (...args) => logged.push(args.join(" ")),
  warn: (...args) => logged.push(args.join(" ")),
  error: (...args) => logged.push(args.join(" ")),
  logVerbose: () => {},
};
const client = new ConvexHttpClient(url, { logger });
const api = anyApi;

async function rejects(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to fail");
}

await check("query with typed args returns an int64 as a bigint", async () => {
  assert.equal(await client.query(api.app.add, { a: 2, b: 3 }), 5n);
});

await check("mutation returns the new id and its log lines reach the client", async () => {
  assert.equal(await client.mutation(api.app.add_note, { text: "hello" }), "notes:1");
  assert.ok(
    logged.some((line) => line.includes("[CONVEX M(app:add_note)] [LOG]") && line.includes("'adding hello'")),
    `log lines: ${JSON.stringify(logged)}`,
  );
});

await check("action runs a mutation and a query", async () => {
  assert.equal(await client.action(api.app.add_and_count, { text: "again" }), 2n);
  assert.deepEqual(await client.query(api.app.list_notes, {}), ["hello", "again"]);
});

await check("ConvexError with data", async () => {
  const error = await rejects(client.mutation(api.app.join_team, { n: 10n }));
  assert.ok(error instanceof ConvexError, `not a ConvexError: ${error}`);
  assert.match(error.message, /team is full/);
  assert.deepEqual(error.data, { max: 10n, code: "TEAM_FULL" });
});

await check("ConvexError without data carries its message", async () => {
  const error = await rejects(client.query(api.app.refuse, {}));
  assert.ok(error instanceof ConvexError);
  assert.equal(error.data, "not today");
});

await check("internal errors are plain errors, redacted", async () => {
  const error = await rejects(client.query(api.app.crash, {}));
  assert.ok(!(error instanceof ConvexError));
  assert.match(error.message, /Server Error/);
  assert.doesNotMatch(error.message, /secret internals/);
});

await check("int64 round-trips beyond 2^53", async () => {
  const big = 2n ** 53n + 1n;
  assert.equal(await client.query(api.app.next_int, { n: big }), big + 1n);
  assert.equal(await client.query(api.app.next_int, { n: 2n ** 63n - 1n }), -(2n ** 63n));
  assert.deepEqual(await client.query(api.app.echo, { n: -42n, list: [1n, 2n] }), { n: -42n, list: [1n, 2n] });
});

await check("bytes round-trip", async () => {
  const data = new Uint8Array([0, 1, 2, 255]).buffer;
  const echoed = await client.query(api.app.echo, { data });
  assert.ok(echoed.data instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(echoed.data)], [0, 1, 2, 255]);
  const reversed = await client.query(api.app.reverse_bytes, { data });
  assert.deepEqual([...new Uint8Array(reversed)], [255, 2, 1, 0]);
});

await check("special floats round-trip", async () => {
  const out = await client.query(api.app.echo, { nan: NaN, inf: -Infinity, negZero: -0, x: 0.5 });
  assert.ok(Number.isNaN(out.nan));
  assert.equal(out.inf, -Infinity);
  assert.ok(Object.is(out.negZero, -0));
  assert.equal(out.x, 0.5);
});

await check("internal and unknown functions are not found", async () => {
  for (const ref of [api.app.secret, api.app.nope]) {
    const error = await rejects(client.query(ref, {}));
    assert.match(error.message, /Could not find public function for 'app:(secret|nope)'/);
  }
});

await check("a bearer token reaches user_identity()", async () => {
  assert.equal(await client.query(api.app.whoami, {}), null);
  const authed = new ConvexHttpClient(url, { auth: token, logger: false });
  const me = await authed.query(api.app.whoami, {});
  assert.equal(me.subject, "ada");
  assert.equal(me.token_identifier, `${me.issuer}|ada`);
  assert.equal(me.email, "ada@example.com");
  // The identity flows into nested calls, and `setAuth` works too.
  const other = new ConvexHttpClient(url, { logger: false });
  other.setAuth(token);
  assert.equal((await other.action(api.app.whoami_nested, {})).subject, "ada");
});

await check("a bad token is refused with a clear message", async () => {
  const bad = new ConvexHttpClient(url, { auth: badToken, logger: false });
  const error = await rejects(bad.query(api.app.whoami, {}));
  assert.match(error.message, /the auth token has expired/);
});

await check("function() reaches any kind", async () => {
  assert.equal(await client.function(api.app.shout, undefined, { text: "hey" }), "HEY");
});

await check("requests shaped like the Nuxt module's helpers", async () => {
  // A bare args object, no format, no Convex-Client header: clean JSON back.
  const post = (endpoint, body, headers = {}) =>
    fetch(`${url}/api/${endpoint}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  let response = await post("query", { path: "app:add", args: { a: 20, b: 22 } });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type"), /application\/json/);
  assert.deepEqual(await response.json(), { status: "success", value: 42, logLines: [] });

  response = await post("mutation", { path: "app:add_note", args: { text: "from nuxt" } }, {
    Authorization: `Bearer ${token}`,
  });
  const body = await response.json();
  assert.equal(body.status, "success");
  assert.equal(body.value, "notes:3");

  response = await post("mutation", { path: "app:join_team", args: { n: 12 } });
  assert.equal(response.status, 560);
  assert.deepEqual(await response.json(), {
    status: "error",
    errorMessage: "team is full",
    errorData: { max: 10, code: "TEAM_FULL" },
    logLines: [],
  });

  response = await post("query", { path: "app:secret", args: {} });
  assert.equal(response.status, 404);
  const notFound = await response.json();
  assert.equal(notFound.status, "error");
  assert.equal(notFound.errorMessage, "Could not find public function for 'app:secret'");

  // A cRPC tagged date, both ways.
  response = await post("query", {
    path: "app:next_day",
    args: { name: "launch", at: { __crpc: 1, t: "$date", v: 1700000000000 } },
  });
  assert.deepEqual((await response.json()).value.at, { __crpc: 1, t: "$date", v: 1700086400000 });
});

await check("consistentQuery reads one snapshot (/api/query_ts, /api/query_at_ts)", async () => {
  const consistent = new ConvexHttpClient(url, { logger: false });
  const before = await consistent.consistentQuery(api.app.list_notes, {});
  await client.mutation(api.app.add_note, { text: "after the snapshot" });
  // The same client keeps its snapshot: the new note is not in it.
  assert.deepEqual(await consistent.consistentQuery(api.app.list_notes, {}), before);
  assert.equal(await consistent.consistentQuery(api.app.add, { a: 1, b: 2 }), 3n);
  // Plain queries, and a new client's snapshot, see it.
  const now = await consistent.query(api.app.list_notes, {});
  assert.deepEqual(now, [...before, "after the snapshot"]);
  const fresh = new ConvexHttpClient(url, { logger: false });
  assert.deepEqual(await fresh.consistentQuery(api.app.list_notes, {}), now);
  // Once the server's retention (set by tests/http_interop.rs) is over: a clear error.
  await new Promise((resolve) => setTimeout(resolve, Number(process.env.CONVOKE_SNAPSHOT_MS) + 500));
  const error = await rejects(consistent.consistentQuery(api.app.list_notes, {}));
  assert.match(error.message, /no longer available/);
  assert.match(error.message, /SnapshotExpired/);
});

await check("a body over the 8 MiB limit shows its 413 to fetch and ConvexHttpClient", async () => {
  // fetch reads the response only once its upload is through: the server must read the
  // body to its end before it answers (a reset connection shows up as EPIPE). Many tries,
  // since the failure depended on timing.
  const big = "x".repeat(9 << 20);
  for (let i = 0; i < 10; i++) {
    const response = await fetch(`${url}/api/query`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: "app:echo", args: { big } }),
    });
    assert.equal(response.status, 413, `try ${i}`);
    const body = await response.json();
    assert.equal(body.code, "RequestTooLarge", `try ${i}`);
  }
  for (let i = 0; i < 4; i++) {
    const error = await rejects(client.query(api.app.echo, { big }));
    assert.match(error.message, /larger than the server's limit of 8388608 bytes/, `try ${i}`);
  }
  // The server still serves.
  assert.equal(await client.query(api.app.add, { a: 1, b: 1 }), 2n);
});

console.log(`interop: ${checks()} checks passed`);
