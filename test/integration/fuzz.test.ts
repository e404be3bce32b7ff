/**
 * Thousands of random and malformed requests and frames against every endpoint: never a 5xx,
 * never an unexpected error in the relay, always a JSON error body, and a healthy relay afterwards.
 * Once on a memory relay and once on a relay on Redis, whose scripts read and write what
 * agents send as text. The seed is printed; CLAWLINK_FUZZ_SEED=N replays a run, CLAWLINK_FUZZ_CASES=N changes its size.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisBus } from "../../src/relay/bus/redis";
import type { RelayOptions, RelayServer } from "../../src/relay/server";
import { RedisStore } from "../../src/relay/store/redis/store";
import { cleanup, startTestRelay } from "../_helpers";
import { api, registerAgent } from "../_http";
import { redisMissing, startRedis, type TestRedis } from "../_redis";
import { wsConnect, type WsClient } from "../ws";

afterAll(cleanup);

const SEED = Number(process.env.CLAWLINK_FUZZ_SEED ?? 20_251_125);
const HTTP_CASES = Number(process.env.CLAWLINK_FUZZ_CASES ?? 4000);
const FRAME_CASES = Math.round(HTTP_CASES / 2);
const RAW_CASES = 150;
const TOKEN = "fuzz-token";

let redis: TestRedis | undefined;
const noRedis = redisMissing("test/integration/fuzz.test.ts");
afterAll(() => redis?.stop());

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number) => next() < p;
  return { next, int, pick, chance };
}

const r = prng(SEED);

const NASTY_STRINGS = [
  "", " ", "a", "x".repeat(70), "x".repeat(5000), "__proto__", "constructor", "prototype", "../../etc/passwd", "..", ".",
  "%00", "\u0000", "\u202e", "💥", "\ud800", "null", "true", "0", "-1", "1e309", "NaN", "<script>", "' OR 1=1 --",
  "a_" + "z".repeat(12), "t_0000000000", "code-review", "Bearer x", "\r\nX-Injected: 1",
];
const KEYS = [
  "type", "to", "from", "cap", "task", "context", "priority", "lease_s", "ttl_s", "idempotency_key", "queue", "in_reply_to",
  "status", "result", "note", "content", "topic", "tags", "ids", "tasks", "name", "caps", "description", "machine", "id",
  "secret", "op", "ref", "message", "__proto__", "constructor", "prototype", "state", "secretHash",
];

function randomString(): string {
  if (r.chance(0.5)) return r.pick(NASTY_STRINGS);
  let s = "";
  const n = r.int(20);
  for (let i = 0; i < n; i++) s += String.fromCharCode(r.chance(0.9) ? 32 + r.int(95) : r.int(0xffff));
  return s;
}

function randomValue(depth = 0): unknown {
  switch (r.int(depth > 3 ? 5 : 8)) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return r.pick([0, -1, 1, 0.5, 1e308, -1e308, 2 ** 53 + 1, 601, 7 * 24 * 3600 + 1, r.int(1e6)]);
    case 3:
    case 4: return randomString();
    case 5: return Array.from({ length: r.int(5) }, () => randomValue(depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(6); i > 0; i--) o[r.chance(0.7) ? r.pick(KEYS) : randomString()] = randomValue(depth + 1);
      return o;
    }
  }
}

interface World {
  agents: { id: string; name: string; secret: string }[];
  tasks: string[];
}

/** A valid body for the route, to be mutated: most interesting bugs sit next to valid input. */
function validBody(path: string, w: World): Record<string, unknown> {
  const other = r.pick(w.agents);
  if (path === "/v1/agents") return { name: `fz${r.int(1e6)}`, caps: ["code"], description: "d" };
  if (path.endsWith("/ack")) return { ids: [r.pick(w.tasks)] };
  return r.pick([
    { type: "task", to: other.name, task: "do it", context: { k: 1 }, priority: "high", lease_s: 60 },
    { type: "task", cap: "code", task: "do it", queue: true },
    { type: "response", in_reply_to: r.pick(w.tasks), result: "ok" },
    { type: "progress", in_reply_to: r.pick(w.tasks), note: "half" },
    { type: "broadcast", content: "news", topic: "t", tags: ["a"] },
  ]);
}

function mutate(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...o };
  for (let i = r.int(3) + 1; i > 0; i--) {
    const keys = Object.keys(out);
    switch (r.int(5)) {
      case 0: if (keys.length) delete out[r.pick(keys)]; break;
      // Nasty text where text is expected: the body stays valid, so it reaches the store.
      case 4: {
        const texts = keys.filter((k) => typeof out[k] === "string" && k !== "type");
        if (texts.length) out[r.pick(texts)] = r.pick(NASTY_STRINGS);
        break;
      }
      case 1: if (keys.length) out[r.pick(keys)] = randomValue(); break;
      case 2: out[r.pick(KEYS)] = randomValue(); break;
      default: Object.defineProperty(out, "__proto__", { value: randomValue(), enumerable: true, configurable: true, writable: true });
    }
  }
  return out;
}

function randomBody(path: string, w: World): string | Uint8Array | undefined {
  switch (r.int(14)) {
    case 0: return undefined;
    case 1: return JSON.stringify(randomValue());
    case 2: return r.pick(["", "{", "}", "[", "nul", "{\"type\":", "{\"a\":1,}", "\ufeff{}", "1e999999", "\"unterminated", "{\"__proto__\":"]);
    case 3: return Uint8Array.from({ length: r.int(200) }, () => r.int(256));
    case 4: return "[".repeat(20_000 + r.int(20_000));
    case 5: {
      // Deep enough that serializing it again would exhaust the stack, and still under the size limit.
      const depth = r.pick([40, 5_000, 150_000]);
      return `{"type":"task","to":"${r.pick(w.agents).name}","task":"t","context":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`;
    }
    case 6: return "x".repeat(1024 * 1024 + 1);
    default: return JSON.stringify(r.chance(0.8) ? mutate(validBody(path, w)) : validBody(path, w));
  }
}

/** Every endpoint with the method it answers; the fuzzer mostly aims at these and sometimes anywhere. */
const ENDPOINTS: [string, string][] = [
  ["GET", "/v1/health"], ["POST", "/v1/agents"], ["GET", "/v1/agents"], ["GET", "/v1/agents/{agent}"], ["DELETE", "/v1/agents/{agent}"],
  ["POST", "/v1/agents/{agent}/heartbeat"], ["GET", "/v1/agents/{agent}/inbox"], ["POST", "/v1/agents/{agent}/ack"],
  ["POST", "/v1/messages"], ["POST", "/v1/messages"], ["POST", "/v1/messages"], ["GET", "/v1/tasks"], ["GET", "/v1/tasks/{task}"],
  ["POST", "/v1/tasks/{task}/cancel"], ["GET", "/v1/files"], ["PUT", "/v1/files/{key}"], ["GET", "/v1/files/{key}"],
  ["DELETE", "/v1/files/{key}"], ["GET", "/v1/ws"],
];
const ELSEWHERE = ["/v1/{junk}", "/", "/v1/agents/{agent}/{junk}", "/v2/agents", "/v1/files/{junk}/{junk}"];
const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PROPFIND", "PURGE"];
const QUERY_KEYS = ["wait", "max", "ack", "cap", "all", "state", "role", "prefix", "task", "__proto__", "constructor"];
// Long polls are real: only waits that are invalid or end at once.
const QUERY_VALUES = ["", "0", "0.01", "-1", "abc", "301", "1e9", "NaN", "Infinity", "true", "false", "1", "10001", "code", "sent", "held", "queued", "%ZZ", "x".repeat(600)];

function randomSegment(w: World, kind: string, actor: World["agents"][number]): string {
  if (r.chance(0.7)) {
    if (kind === "agent") return r.chance(0.7) ? actor.id : r.pick(w.agents).id;
    if (kind === "task") return r.pick(w.tasks);
    if (kind === "key") return r.pick(["notes.txt", "reports/q3.md", "a/b/c"]);
  }
  return encodeURIComponent(randomString().toWellFormed()) || "%20";
}

function randomTarget(w: World, actor: World["agents"][number]): { method: string; path: string } {
  const [method, template] = r.chance(0.8) ? r.pick(ENDPOINTS) : [r.pick(METHODS), r.pick([...ENDPOINTS.map((e) => e[1]), ...ELSEWHERE])];
  const path = template.replace(/\{(\w+)\}/g, (_, kind) => randomSegment(w, kind, actor));
  if (!r.chance(0.4)) return { method, path };
  const qs = Array.from({ length: r.int(4) + 1 }, () => `${r.pick(QUERY_KEYS)}=${encodeURIComponent(r.pick(QUERY_VALUES))}`).join("&");
  return { method, path: `${path}?${qs}` };
}

function randomAuth(w: World, actor: World["agents"][number]): Record<string, string> {
  switch (r.int(12)) {
    case 0: return {};
    case 1: return { authorization: `Bearer ${TOKEN}` };
    case 2: return { authorization: `Bearer ${randomString().replace(/[\r\n\u0000-\u001f\u007f-\uffff]/g, "")}x` };
    case 3: return { authorization: r.pick(["Bearer", "Bearer ", "Basic Zm9vOmJhcg==", "bearer  " + TOKEN, "x".repeat(4000)]) };
    case 4: return { authorization: `Bearer ${r.pick(w.agents).id}.wrong` };
    case 5: return { authorization: `Bearer ${r.pick(w.agents).secret}` };
    default: return { authorization: `Bearer ${actor.secret}` };
  }
}

function randomHeaders(): Record<string, string> {
  return r.pick<Record<string, string>>([{}, { "content-type": "application/json" }, { "content-type": "text/plain" }, { "content-type": "multipart/form-data; boundary=x" }, { "x-forwarded-for": "10.0.0.1" }]);
}

/** Checks one response; returns a description of what was wrong, or undefined. */
async function verdict(res: Response, method: string): Promise<string | undefined> {
  const text = await res.text();
  if (res.status >= 500) return `status ${res.status}: ${text.slice(0, 200)}`;
  if (method === "HEAD" || res.status < 400) return undefined;
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    return `status ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`;
  }
  if (typeof body?.error?.code !== "string" || typeof body?.error?.message !== "string") return `status ${res.status} without {error:{code,message}}: ${text.slice(0, 200)}`;
  return undefined;
}

/** A relay on its own Redis store and bus, as `clawlink relay --redis` makes one. */
async function redisRelay(opts: RelayOptions): Promise<RelayServer> {
  redis ??= await startRedis();
  const store = await new RedisStore(redis.url, { prefix: "fuzz:" }).open();
  const bus = await new RedisBus(redis.url, "fuzz:").open();
  store.publishAs(bus.origin);
  return startTestRelay({ ...opts, store, bus });
}

fuzz("memory", async (opts) => startTestRelay(opts));
if (!noRedis) fuzz("redis", redisRelay);

function fuzz(storeName: string, start: (opts: RelayOptions) => Promise<RelayServer>) {
  describe(`fuzz on ${storeName} (seed ${SEED})`, () => {
    const unexpected: unknown[] = [];
    let relay: RelayServer;
    let call: ReturnType<typeof api>;
    beforeAll(async () => {
      relay = await start({
        token: TOKEN,
        maxAuthFailures: 1e9,
        maxFileBytes: 16 * 1024,
        maxTotalFileBytes: 64 * 1024,
        maxQueue: 50,
        maxAgents: 300,
        onError: (err) => unexpected.push(err),
      });
      call = api(relay.url);
    });
    const world: World = { agents: [], tasks: ["t_missing00000"] };

    test("setup: agents, a task between them, a shared file", async () => {
      for (const name of ["ann", "ben", "cal"]) world.agents.push({ name, ...(await registerAgent(relay.url, name, TOKEN, { caps: ["code"] })) });
      const [ann, ben] = world.agents;
      const t = await call("POST", "/v1/messages", { bearer: ann!.secret, json: { type: "task", to: "ben", task: "seed" } });
      world.tasks.push(t.body.id);
      await call("GET", `/v1/agents/${ben!.id}/inbox`, { bearer: ben!.secret });
      await call("PUT", "/v1/files/notes.txt", { bearer: ann!.secret, body: "notes" });
    });

    test(`${HTTP_CASES} random requests: no 5xx, always a JSON error`, async () => {
      const failures: string[] = [];
      for (let done = 0; done < HTTP_CASES; ) {
        const batch: Promise<void>[] = [];
        for (let i = 0; i < 16 && done < HTTP_CASES; i++, done++) {
          const actor = r.pick(world.agents);
          const { method, path } = randomTarget(world, actor);
          const body = method === "GET" || method === "HEAD" ? undefined : randomBody(path, world);
          const headers = { ...randomAuth(world, actor), ...randomHeaders() };
          batch.push(
            (async () => {
              let res: Response;
              try {
                res = await fetch(relay.url + path, { method, headers, body, signal: AbortSignal.timeout(10_000) });
              } catch (err) {
                failures.push(`${method} ${path}: no response (${(err as Error).message})`);
                return;
              }
              const wrong = await verdict(res, method);
              if (wrong) failures.push(`${method} ${path.slice(0, 120)}: ${wrong}`);
              // Keep the world interesting: remember tasks that got created, re-register agents that were removed.
              if (res.status === 201 && path === "/v1/messages" && typeof body === "string" && body.includes('"task"')) {
                try {
                  const id = (await call("GET", "/v1/tasks", { bearer: world.agents[0]!.secret })).body.tasks.at(-1)?.id;
                  if (id) world.tasks.push(id);
                } catch {}
              }
            })(),
          );
        }
        await Promise.all(batch);
        for (const a of world.agents) {
          if (!(await relay.core.knows(a.id))) await call("POST", "/v1/agents", { bearer: TOKEN, json: { name: a.name, id: a.id, secret: a.secret, caps: ["code"] } });
        }
      }
      expect(failures.slice(0, 10)).toEqual([]);
      expect(unexpected).toEqual([]);
    }, 60_000);

    test(`${FRAME_CASES} random WebSocket frames: every reply is a known frame, never an internal error, the socket stays up`, async () => {
      const sockets: WsClient[] = [];
      for (const a of world.agents.slice(0, 2)) {
        const ws = await wsConnect(`${relay.url}/v1/ws`, a.secret);
        await ws.nextOp("hello");
        sockets.push(ws);
      }
      const replies: any[] = [];
      for (const ws of sockets) ws.ws.addEventListener("message", (ev) => replies.push(ev.data));
      for (let i = 0; i < FRAME_CASES; i++) {
        const ws = r.pick(sockets);
        // One frame in a hundred carries a context nested deep enough to blow the stack when serialized again.
        switch (r.chance(0.01) ? 4 : r.pick([0, 1, 2, 3, 5, 5])) {
          case 0: ws.ws.send(JSON.stringify(randomValue())); break;
          case 1: ws.ws.send(Uint8Array.from({ length: r.int(100) }, () => r.int(256))); break;
          case 2: ws.ws.send(r.pick(["", "{", "nul", "[]", "{}", '{"op":', '{"op":"send"}', '{"op":"ack","ids":"x"}', "[".repeat(50_000)])); break;
          case 3: ws.ws.send(JSON.stringify(mutate({ op: "ack", ids: [r.pick(world.tasks)], tasks: [r.pick(world.tasks)] }))); break;
          case 4: ws.ws.send(`{"op":"send","message":{"type":"task","to":"${r.pick(world.agents).name}","task":"t","context":${'{"a":'.repeat(150_000)}1${"}".repeat(150_000)}}}`); break;
          default: ws.ws.send(JSON.stringify(mutate({ op: "send", ref: String(i), message: r.chance(0.7) ? mutate(validBody("/v1/messages", world)) : validBody("/v1/messages", world) })));
        }
        if (i % 200 === 199) await Bun.sleep(1);
      }
      for (const ws of sockets) {
        ws.send({ op: "ping" });
        await ws.nextOp("pong", 10_000);
      }
      const bad = replies
        .map((raw) => {
          try {
            const f = JSON.parse(String(raw));
            if (!["hello", "message", "sent", "error", "pong", "task"].includes(f.op)) return `unknown op: ${raw}`;
            if (f.op === "error" && (f.error.code === "internal" || typeof f.error.message !== "string")) return `bad error: ${raw}`;
          } catch {
            return `not JSON: ${String(raw).slice(0, 200)}`;
          }
          return undefined;
        })
        .filter(Boolean);
      expect(bad.slice(0, 10)).toEqual([]);
      expect(replies.length).toBeGreaterThan(FRAME_CASES / 2);
      for (const ws of sockets) ws.close();
      expect(unexpected).toEqual([]);
    }, 60_000);

    test(`${RAW_CASES} malformed HTTP requests on a raw socket: never a 5xx`, async () => {
      const port = relay.server.port!;
      const requestLines = ["GET /v1/agents/%ZZ/inbox", "GET /v1/files/%ZZ", "GET /v1/files/..%2F..%2Fetc", "DELETE /v1/agents/" + "x".repeat(3000), "GET *", "POST /v1/messages", "PUT /v1/files/a", "GET /v1/ws?task=%00", "BREW /v1/health"];
      const extras = ["", "Content-Length: abc\r\n", "Content-Length: 99999999999\r\n", "Transfer-Encoding: chunked\r\n", "Authorization: Bearer \u00ff\r\n", "Upgrade: websocket\r\nConnection: Upgrade\r\n", `Authorization: Bearer ${TOKEN}\r\n`];
      const bodies = ["", "{}", "zz\r\n", "5\r\n{\"a\":\r\n0\r\n\r\n", "x".repeat(1000)];
      const statuses: number[] = [];
      for (let i = 0; i < RAW_CASES; i++) {
        const req = `${r.pick(requestLines)} HTTP/1.1\r\nHost: x\r\n${r.pick(extras)}Connection: close\r\n\r\n${r.pick(bodies)}`;
        const text = await new Promise<string>((resolve) => {
          let buf = "";
          Bun.connect({
            hostname: "127.0.0.1",
            port,
            socket: {
              open: (s) => void s.write(req),
              data: (_s, d) => void (buf += d.toString()),
              close: () => resolve(buf),
              error: () => resolve(buf),
            },
          }).then((s) => setTimeout(() => s.end(), 200), () => resolve(buf));
        });
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
        statuses.push(status);
      }
      expect(statuses.filter((s) => s >= 500)).toEqual([]);
      expect(statuses.filter((s) => s > 0).length).toBeGreaterThan(RAW_CASES / 2);
      expect(unexpected).toEqual([]);
    }, 60_000);

    test("afterwards the relay is healthy and a clean workflow still works", async () => {
      expect((await call("GET", "/v1/health")).status).toBe(200);
      const from = await registerAgent(relay.url, "after-from", TOKEN);
      const to = await registerAgent(relay.url, "after-to", TOKEN);
      const sent = await call("POST", "/v1/messages", { bearer: from.secret, json: { type: "task", to: to.id, task: "still working?" } });
      expect(sent.status).toBe(201);
      const inbox = await call("GET", `/v1/agents/${to.id}/inbox`, { bearer: to.secret });
      expect(inbox.body.messages.map((m: any) => m.task)).toEqual(["still working?"]);
      const done = await call("POST", "/v1/messages", { bearer: to.secret, json: { type: "response", in_reply_to: sent.body.id, result: "yes" } });
      expect(done.status).toBe(201);
      expect((await call("GET", `/v1/tasks/${sent.body.id}`, { bearer: from.secret })).body.state).toBe("completed");
      expect(unexpected).toEqual([]);
    });
  });
}
