// k6 load test of an MCP server over Streamable HTTP: the gateway, or an upstream directly.
//
//   k6 run -e MCP_URL=http://127.0.0.1:8080/mcp -e SCENARIO=smoke loadtest/mcp.js
//
// MCP_URL   the endpoint (default http://127.0.0.1:8080/mcp)
// SCENARIO  smoke (default: a few calls, thresholds on errors only), open (constant arrival
//           rate, open loop), ramp (ramping VUs)
// ERA       2025-11-25 (default: a session per VU: initialize, initialized, calls with
//           Mcp-Session-Id, DELETE at the end) or 2026-07-28 (stateless requests)
// PREFIX    the tools' prefix: "demo__" through the gateway (default), "" directly
// RATE, DURATION, VUS  sizes of the open and ramp scenarios
import http from 'k6/http';
import { check, fail } from 'k6';
import { Rate, Trend } from 'k6/metrics';
import exec from 'k6/execution';

const URL = __ENV.MCP_URL || 'http://127.0.0.1:8080/mcp';
const ERA = __ENV.ERA || '2025-11-25';
const PREFIX = __ENV.PREFIX === undefined ? 'demo__' : __ENV.PREFIX;
const SCENARIO = __ENV.SCENARIO || 'smoke';
const RATE = Number(__ENV.RATE || 200);
const DURATION = __ENV.DURATION || '30s';
const VUS = Number(__ENV.VUS || 32);

const mcpErrors = new Rate('mcp_errors');         // a JSON-RPC error or isError result
const cacheable = new Trend('mcp_cacheable_call', true);
const uncached = new Trend('mcp_uncached_call', true);

const scenarios = {
  smoke: { executor: 'per-vu-iterations', vus: 2, iterations: 20, maxDuration: '60s' },
  open: { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION, preAllocatedVUs: VUS, maxVUs: VUS * 4 },
  ramp: { executor: 'ramping-vus', startVUs: 1, stages: [{ duration: DURATION, target: VUS }, { duration: '10s', target: VUS }, { duration: '5s', target: 0 }] },
};

export const options = {
  scenarios: { [SCENARIO]: scenarios[SCENARIO] },
  // The smoke scenario runs in `make test`: it judges errors only, never times (this machine is
  // shared with the gateway and the upstreams). The others add latency thresholds.
  thresholds: SCENARIO === 'smoke'
    ? { mcp_errors: ['rate==0'], checks: ['rate==1'], http_req_failed: ['rate==0'] }
    : { mcp_errors: ['rate<0.01'], http_req_failed: ['rate<0.01'], 'http_req_duration{call:tool}': ['p(95)<50', 'p(99)<200'] },
};

const baseHeaders = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

// parse reads a JSON-RPC response from a JSON body or from the last data event of an SSE body;
// null for anything else (an HTTP error's text), which the caller counts as an error.
function parse(res) {
  try {
    return parseMessage(res);
  } catch (e) {
    return null;
  }
}

function parseMessage(res) {
  const type = res.headers['Content-Type'] || '';
  if (type.startsWith('text/event-stream')) {
    const lines = String(res.body).split('\n').filter((l) => l.startsWith('data:'));
    for (let i = lines.length - 1; i >= 0; i--) {
      const msg = JSON.parse(lines[i].slice(5).trim());
      if (msg.id !== undefined && (msg.result !== undefined || msg.error !== undefined)) return msg;
    }
    return null;
  }
  return res.body ? res.json() : null;
}

let sessionID = null; // per VU
let nextID = 1;

function post(body, extraHeaders, tags) {
  return http.post(URL, JSON.stringify(body), { headers: Object.assign({}, baseHeaders, extraHeaders), tags });
}

function openSession() {
  const res = post({ jsonrpc: '2.0', id: nextID++, method: 'initialize',
    params: { protocolVersion: ERA, capabilities: {}, clientInfo: { name: 'k6', version: '1' } } }, {}, { call: 'initialize' });
  if (!check(res, { 'initialize 200': (r) => r.status === 200 })) fail(`initialize: ${res.status} ${res.body}`);
  sessionID = res.headers['Mcp-Session-Id'];
  post({ jsonrpc: '2.0', method: 'notifications/initialized' }, { 'Mcp-Session-Id': sessionID, 'Mcp-Protocol-Version': ERA }, { call: 'initialized' });
}

function call(tool, args) {
  const body = { jsonrpc: '2.0', id: nextID++, method: 'tools/call', params: { name: tool, arguments: args } };
  let headers;
  if (ERA === '2026-07-28') {
    body.params._meta = { 'io.modelcontextprotocol/protocolVersion': ERA, 'io.modelcontextprotocol/clientCapabilities': {} };
    headers = { 'Mcp-Protocol-Version': ERA, 'Mcp-Method': 'tools/call', 'Mcp-Name': tool };
  } else {
    if (sessionID === null) openSession();
    headers = { 'Mcp-Session-Id': sessionID, 'Mcp-Protocol-Version': ERA };
  }
  const res = post(body, headers, { call: 'tool', tool });
  const msg = parse(res);
  const ok = check(res, { 'status 200': (r) => r.status === 200, 'a result': () => msg !== null && msg.result !== undefined });
  mcpErrors.add(!ok || (msg && msg.result && msg.result.isError === true));
  return res;
}

// The tool mix: mostly cheap calls, some arithmetic with structured output, and a cacheable
// read (the gateway caches demo__counter when told to; directly it is just a call).
export default function () {
  const r = Math.random();
  if (r < 0.6) {
    uncached.add(call(PREFIX + 'echo', { text: `vu ${exec.vu.idInTest} iteration ${exec.scenario.iterationInTest}` }).timings.duration);
  } else if (r < 0.8) {
    uncached.add(call(PREFIX + 'add', { a: 2, b: 40 }).timings.duration);
  } else {
    cacheable.add(call(PREFIX + 'counter', { pad: 0 }).timings.duration);
  }
  // The smoke run ends each session as a client should; longer runs leave theirs to expire.
  if (SCENARIO === 'smoke' && sessionID !== null && exec.vu.iterationInScenario === scenarios.smoke.iterations - 1) {
    const res = http.del(URL, null, { headers: Object.assign({}, baseHeaders, { 'Mcp-Session-Id': sessionID, 'Mcp-Protocol-Version': ERA }), tags: { call: 'delete' } });
    check(res, { 'session deleted': (r) => r.status === 200 || r.status === 204 });
    sessionID = null;
  }
}

