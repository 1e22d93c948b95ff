#!/usr/bin/env node
// The official Anthropic TypeScript SDK against mock Claude (beside scripts/check_sdk.py).
//
// Checks that a client nobody here wrote parses the mock's tool-use round trip and streams,
// raises its typed errors, and retries 529 and 429 (honouring retry-after) by itself.
// Starts its own mock (the release `mocks` binary) on a free port and stops it by PID.
//
//   node scripts/sdk-ts/check_sdk.mjs --mocks target/release/mocks
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import Anthropic from "@anthropic-ai/sdk";
import { VERSION as SDK_VERSION } from "@anthropic-ai/sdk/version";

const MODEL = "claude-sonnet-4-6";
const TOOLS = [
  { name: "get_quote", description: "Latest quote for a ticker symbol.",
    input_schema: { type: "object", properties: { symbol: { type: "string" } }, required: ["symbol"] } },
  { name: "get_price_history", description: "Daily OHLCV bars.",
    input_schema: { type: "object", properties: { symbol: { type: "string" }, days: { type: "integer" } }, required: ["symbol"] } },
  { name: "get_market_status", description: "Whether the market is open.",
    input_schema: { type: "object", properties: {} } },
];
const failures = [];

function check(cond, what) {
  console.log((cond ? "ok    " : "FAIL  ") + what);
  if (!cond) failures.push(what);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function admin(base, path, body) {
  const r = await fetch(base + path, body === undefined ? {} : {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  const text = await r.text();
  return text ? JSON.parse(text) : null;
}

async function waitReady(base) {
  for (let i = 0; i < 100; i++) {
    try { return await admin(base, "/__stats"); } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  throw new Error(`mock claude at ${base} did not start`);
}

async function expectError(promise, cls, what) {
  try {
    await promise;
    check(false, `${what} raises ${cls.name}`);
    return null;
  } catch (e) {
    check(e instanceof cls, `${what} → ${e.constructor.name} (${e.status} ${e.error?.error?.type})`);
    return e;
  }
}

async function conversation(client, base) {
  const question = "Should I buy AAPL or MSFT? Show the price history.";
  const first = await client.messages.create({ model: MODEL, max_tokens: 1024, tools: TOOLS,
    messages: [{ role: "user", content: question }] });
  check(first.id.startsWith("msg_"), `message id ${first.id} starts with msg_`);
  check(first.stop_reason === "tool_use", `first reply stops for tool use (${first.stop_reason})`);
  const uses = first.content.filter((b) => b.type === "tool_use");
  const quoted = uses.filter((u) => u.name === "get_quote").map((u) => u.input.symbol).sort();
  check(JSON.stringify(quoted) === '["AAPL","MSFT"]', `tool calls quote both symbols: ${quoted}`);
  check(uses.every((u) => u.id.startsWith("toolu_")), "tool_use ids start with toolu_");

  const results = uses.map((u) => u.name === "get_quote" && u.input.symbol === "AAPL"
    ? { type: "tool_result", tool_use_id: u.id,
        content: JSON.stringify({ symbol: "AAPL", bid: 187.30, ask: 187.34, last: 187.32 }) }
    : { type: "tool_result", tool_use_id: u.id, is_error: true, content: "upstream returned 503" });
  const messages = [
    { role: "user", content: question },
    { role: "assistant", content: first.content },
    { role: "user", content: results },
  ];
  const final = await client.messages.create({ model: MODEL, max_tokens: 1024, tools: TOOLS, messages });
  const text = final.content.filter((b) => b.type === "text").map((b) => b.text).join("");
  check(final.stop_reason === "end_turn", `second reply ends the turn (${final.stop_reason})`);
  check(text.includes("187.32"), "analysis quotes the tool result's last price 187.32");
  check(text.toLowerCase().includes("could not"), "analysis says when a tool result was an error");

  // Ids are unique per request; an admin reset replays them, so the stream must equal `final`.
  await admin(base, "/__admin/reset", {});
  const again = await client.messages.create({ model: MODEL, max_tokens: 1024, tools: TOOLS, messages });
  await admin(base, "/__admin/reset", {});
  const streamed = await client.messages.stream({ model: MODEL, max_tokens: 1024, tools: TOOLS, messages }).finalMessage();
  // Compare as plain data: the stream accumulator builds its own block objects.
  const plain = (m) => JSON.stringify(m.content.map((b) => b.type === "text"
    ? { type: b.type, text: b.text } : { type: b.type, id: b.id, name: b.name, input: b.input }));
  const same = plain(streamed) === plain(again) && streamed.id === again.id;
  if (!same) console.log(`  non-streamed: ${again.id} ${plain(again)}\n  streamed:     ${streamed.id} ${plain(streamed)}`);
  check(same, "streamed message equals the non-streamed reply (id and content)");
  check(streamed.stop_reason === again.stop_reason, "streamed stop_reason matches");

  const streamedTools = await client.messages.stream({ model: MODEL, max_tokens: 1024, tools: TOOLS,
    messages: messages.slice(0, 1) }).finalMessage();
  const inputs = (m) => JSON.stringify(m.content.filter((b) => b.type === "tool_use").map((b) => b.input));
  check(inputs(streamedTools) === inputs(first), "streamed tool_use input (input_json_delta) parses to the same input");

  const merged = await client.messages.create({ model: MODEL, max_tokens: 64, messages: [
    { role: "user", content: "hi" }, { role: "user", content: "again" }] });
  check(merged.type === "message", "consecutive user turns are merged (200), as the API does");
}

async function errors(client, base) {
  await expectError(client.messages.create({ model: MODEL, max_tokens: 10, messages: [] }),
    Anthropic.BadRequestError, "empty messages");
  await expectError(client.withOptions({ apiKey: "sk-invalid" }).messages.create({ model: MODEL, max_tokens: 10,
    messages: [{ role: "user", content: "hi" }] }), Anthropic.AuthenticationError, "key sk-invalid");
  await expectError(client.withOptions({ apiKey: "sk-forbidden" }).messages.create({ model: MODEL, max_tokens: 10,
    messages: [{ role: "user", content: "hi" }] }), Anthropic.PermissionDeniedError, "key sk-forbidden");
  await expectError(client.messages.create({ model: "claude-sonet-4-6", max_tokens: 10,
    messages: [{ role: "user", content: "hi" }] }), Anthropic.NotFoundError, "a misspelt model");
  // A model added at runtime with a small ceiling (the SDK refuses large non-streaming
  // max_tokens on its own, before any request).
  await admin(base, "/__admin/faults", { models: { "claude-small-test": 1000 } });
  await expectError(client.messages.create({ model: "claude-small-test", max_tokens: 1001,
    messages: [{ role: "user", content: "hi" }] }), Anthropic.BadRequestError, "max_tokens over the model's ceiling");

  await admin(base, "/__admin/faults", { billing_error_rate: 1.0 });
  await expectError(client.messages.create({ model: MODEL, max_tokens: 10,
    messages: [{ role: "user", content: "hi" }] }), Anthropic.PaymentRequiredError, "402 billing_error");
  await admin(base, "/__admin/faults", { billing_error_rate: 0.0 });

  // 529 on every call: the SDK retries by itself (maxRetries 2 → 3 requests), then raises.
  await admin(base, "/__admin/reset", {});
  await admin(base, "/__admin/faults", { overload_rate: 1.0 });
  await expectError(client.withOptions({ maxRetries: 2 }).messages.create({ model: MODEL, max_tokens: 10,
    messages: [{ role: "user", content: "hi" }] }), Anthropic.OverloadedError, "529 overloaded_error");
  const seen = (await admin(base, "/__stats")).requests_total;
  check(seen === 3, `SDK retried 529 twice: mock saw ${seen} requests (want 3)`);
  await admin(base, "/__admin/faults", { overload_rate: 0.0 });

  // 60 RPM: after the burst the SDK's own retry waits retry-after (1 s) and succeeds.
  await admin(base, "/__admin/reset", {});
  await admin(base, "/__admin/faults", { rpm: 60 });
  const hi = { model: MODEL, max_tokens: 10, messages: [{ role: "user", content: "hi" }] };
  let limited = null;
  for (let i = 0; i < 70 && !limited; i++) {
    try { await client.messages.create(hi); } catch (e) { limited = e; }
  }
  check(limited instanceof Anthropic.RateLimitError, `61st call at 60 RPM → ${limited?.constructor.name}`);
  const h = limited?.headers;
  check(h?.get("retry-after") === "1", `429 carries retry-after: 1 (${h?.get("retry-after")})`);
  check(h?.get("anthropic-ratelimit-requests-limit") === "60" && h?.get("anthropic-ratelimit-requests-remaining") === "0",
    "429 carries anthropic-ratelimit-requests-limit/remaining");
  check(limited?.requestID?.startsWith("req_"), `error carries the request id (${limited?.requestID})`);
  const before = (await admin(base, "/__stats")).requests_total;
  const started = Date.now();
  const { data, response } = await client.withOptions({ maxRetries: 2 }).messages.create(hi).withResponse();
  const waited = (Date.now() - started) / 1000;
  const tries = (await admin(base, "/__stats")).requests_total - before;
  check(data.type === "message" && tries === 2 && waited >= 0.9 && waited < 3,
    `SDK retried the 429 after retry-after and succeeded: ${tries} requests in ${waited.toFixed(2)} s`);
  check(response.headers.get("anthropic-ratelimit-requests-limit") === "60", "200 carries the rate-limit headers");
  await admin(base, "/__admin/faults", { rpm: 0 });
}

async function main() {
  const args = process.argv.slice(2);
  const i = args.indexOf("--mocks");
  const mocks = i >= 0 ? args[i + 1] : "target/release/mocks";
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(mocks, ["claude", "--port", String(port), "--seed", "42"], { stdio: ["ignore", "ignore", "inherit"] });
  try {
    await waitReady(base);
    const client = new Anthropic({ apiKey: "sk-test-mock", baseURL: base, maxRetries: 0 });
    console.log(`@anthropic-ai/sdk ${SDK_VERSION} against mock claude at ${base}`);
    await conversation(client, base);
    await errors(client, base);
  } finally {
    proc.kill("SIGTERM");
  }
  if (failures.length) {
    console.error(`${failures.length} check(s) failed`);
    process.exit(1);
  }
  console.log("all TypeScript SDK checks passed");
}

main().catch((e) => { console.error(e); process.exit(1); });
