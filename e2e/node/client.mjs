// A real MCP client for the end-to-end tests: the official TypeScript SDK over Streamable HTTP.
// usage: [TOKEN=bearer-token] node client.mjs URL '[{"name":"tool","arguments":{}}]' UNKNOWN_TOOL
// Prints one JSON object: the tools listed (every page), each call's result, and the error that
// calling UNKNOWN_TOOL produced.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, callsJSON = "[]", unknown = "no-such-tool"] = process.argv.slice(2);
const client = new Client({ name: "switchboard-e2e", version: "1.0.0" }, { capabilities: {} });
const requestInit = process.env.TOKEN ? { headers: { Authorization: `Bearer ${process.env.TOKEN}` } } : undefined;
const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit });
try {
  await client.connect(transport);
} catch (e) {
  // Refused before a session exists (401, 403, ...): report it for the test to check.
  process.stdout.write(JSON.stringify({ connectError: { code: e.code ?? null, message: String(e.message ?? e) } }));
  process.exit(0);
}

const report = { server: client.getServerVersion(), tools: [], pages: 0, calls: [], unknown: null };
let cursor;
do {
  const page = await client.listTools(cursor ? { cursor } : {});
  report.pages++;
  report.tools.push(...page.tools);
  cursor = page.nextCursor;
} while (cursor);

for (const call of JSON.parse(callsJSON)) {
  report.calls.push(await client.callTool(call));
}
try {
  report.unknown = { result: await client.callTool({ name: unknown, arguments: {} }) };
} catch (e) {
  report.unknown = { code: e.code, message: e.message };
}
await transport.terminateSession();
await client.close();
process.stdout.write(JSON.stringify(report));
process.exit(0);
