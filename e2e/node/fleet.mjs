// The official TypeScript SDK client against a fleet of gateways behind a balancer.
// usage: node fleet.mjs URL
// Runs: list; 40 calls on one session; 20 sessions in parallel; a sampling call; a progress
// call; tools/list_changed after an upstream change. Prints one JSON report; any failure is
// recorded in it (errors), never thrown away.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema, ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const [url] = process.argv.slice(2);
const report = { tools: 0, sessionIds: [], sequential: 0, parallel: 0, sampled: null, progress: 0, progressResult: null, listChanged: false, errors: [] };

async function open(capabilities = {}) {
  const client = new Client({ name: "switchboard-fleet-e2e", version: "1.0.0" }, { capabilities });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  return { client, transport };
}

function text(result) {
  return (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("");
}

async function step(name, fn) {
  try {
    await fn();
  } catch (e) {
    report.errors.push(`${name}: ${e?.message ?? e}`);
  }
}

const main = await open({ sampling: {} });
main.client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
  model: "fleet-test", role: "assistant",
  content: { type: "text", text: "sampled: " + req.params.messages[0].content.text },
}));
let changed;
const listChanged = new Promise((resolve) => (changed = resolve));
main.client.setNotificationHandler(ToolListChangedNotificationSchema, () => changed());
report.sessionIds.push(main.transport.sessionId);

await step("list", async () => {
  let cursor;
  do {
    const page = await main.client.listTools(cursor ? { cursor } : {});
    report.tools += page.tools.length;
    cursor = page.nextCursor;
  } while (cursor);
});

await step("40 calls on one session", async () => {
  for (let i = 0; i < 40; i++) {
    const r = await main.client.callTool({ name: "demo__echo", arguments: { text: `call ${i}` } });
    if (!r.isError && text(r) === `call ${i}`) report.sequential++;
  }
});

await step("20 sessions in parallel", async () => {
  const results = await Promise.allSettled(Array.from({ length: 20 }, async (_, i) => {
    const s = await open();
    try {
      const r = await s.client.callTool({ name: "demo__echo", arguments: { text: `session ${i}` } });
      if (r.isError || text(r) !== `session ${i}`) throw new Error(`session ${i} got ${JSON.stringify(r)}`);
      await s.client.listTools();
      await s.transport.terminateSession();
    } finally {
      await s.client.close();
    }
  }));
  for (const r of results) {
    if (r.status === "fulfilled") report.parallel++;
    else report.errors.push(`parallel session: ${r.reason?.message ?? r.reason}`);
  }
});

await step("sampling", async () => {
  const r = await main.client.callTool({ name: "demo__sample", arguments: { text: "hello fleet" } });
  report.sampled = r.isError ? `error: ${text(r)}` : text(r);
});

await step("progress", async () => {
  // The npm reference server: it sends every progress notification before its result (mcp-go's
  // own server may write the last ones after it, which no client can then tie to the call).
  const r = await main.client.callTool({ name: "everything__trigger-long-running-operation", arguments: { duration: 1, steps: 5 } },
    undefined, { onprogress: () => report.progress++ });
  report.progressResult = r.isError ? `error: ${text(r)}` : "ok";
});

await step("list_changed", async () => {
  await main.client.callTool({ name: "demo__toggle_extra", arguments: {} });
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error("no tools/list_changed within 15s")), 15000));
  await Promise.race([listChanged, timeout]);
  report.listChanged = true;
});

await main.transport.terminateSession().catch((e) => report.errors.push(`terminate: ${e.message}`));
await main.client.close();
process.stdout.write(JSON.stringify(report));
process.exit(0);
