// The official TypeScript SDK client over stdio, as a desktop host runs an MCP server: it
// launches the command and talks JSON-RPC on its stdin and stdout.
// usage: node stdio_client.mjs '{"command": "...", "args": [...], "env": {...},
//          "calls": [{"name": "tool", "arguments": {}}], "unknown": "tool"}'
// It declares sampling and answers every sampling request "sampled: " + the first message's
// text. Prints one JSON object: the tools listed (every page), each call's result, the error
// that calling `unknown` produced, how many sampling requests it answered, how the command
// ended once its stdin was closed (exit code, signal, milliseconds), and any failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { CreateMessageRequestSchema } from "@modelcontextprotocol/sdk/types.js";

const spec = JSON.parse(process.argv[2]);
const report = { server: null, tools: [], calls: [], unknown: null, sampled: 0, exit: null, errors: [] };
const client = new Client({ name: "switchboard-stdio-e2e", version: "1.0.0" }, { capabilities: { sampling: {} } });
client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
  report.sampled++;
  return { model: "stdio-e2e", role: "assistant", content: { type: "text", text: "sampled: " + req.params.messages[0].content.text } };
});
// The SDK passes a child only a few variables by default; the bridge needs its token's.
const transport = new StdioClientTransport({ command: spec.command, args: spec.args ?? [], env: { ...process.env, ...(spec.env ?? {}) }, stderr: "inherit" });
try {
  await client.connect(transport);
} catch (e) {
  report.errors.push(`connect: ${e?.message ?? e}`);
  process.stdout.write(JSON.stringify(report));
  process.exit(0);
}
report.server = client.getServerVersion();
const exited = new Promise((resolve) => transport._process.once("exit", (code, signal) => resolve({ code, signal })));

try {
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    report.tools.push(...page.tools.map((t) => t.name));
    cursor = page.nextCursor;
  } while (cursor);
} catch (e) {
  report.errors.push(`tools/list: ${e?.message ?? e}`);
}
for (const call of spec.calls ?? []) {
  try {
    report.calls.push(await client.callTool(call));
  } catch (e) {
    report.calls.push({ error: { code: e.code ?? null, message: String(e.message ?? e) } });
  }
}
if (spec.unknown) {
  try {
    report.unknown = { result: await client.callTool({ name: spec.unknown, arguments: {} }) };
  } catch (e) {
    report.unknown = { code: e.code, message: e.message };
  }
}
const closing = Date.now();
await client.close(); // ends the child's stdin: it should exit by itself (else SIGTERM after 2s)
report.exit = { ...(await exited), ms: Date.now() - closing };
process.stdout.write(JSON.stringify(report));
process.exit(0);
