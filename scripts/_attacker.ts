/**
 * The attacks of scripts/bench-attacks.ts, each run in a process of its own so that its work does not
 * slow the client being measured. Bounded in count and time; prints `ready` once what it needs is in place
 * (its time runs from then), and at the end one JSON line of what it did.
 *   bun scripts/_attacker.ts KIND URL SECRET SECONDS MAX CONCURRENCY
 */

export interface AttackReport {
  attempts: number;
  /** Answers by outcome: `201`, `429`, `opened`, `refused`, ... */
  outcomes: Record<string, number>;
  seconds: number;
}

interface Bounds {
  deadline: number;
  max: number;
  concurrency: number;
}

type Attack = (url: string, secret: string, bounds: Bounds) => Promise<Record<string, number>>;

let phaseMs = 5_000;
let started = false;
let startedAt = 0;
/** Tells the bench that what the attack needs is in place: the attack proper, and its time, start now. */
function ready(bounds: Bounds) {
  if (started) return;
  started = true;
  startedAt = performance.now();
  bounds.deadline = performance.now() + phaseMs;
  process.stdout.write("ready\n");
}

/** Makes `attempt`s, `concurrency` at a time, until `max` of them or the deadline; counts their outcomes. */
async function flood(bounds: Bounds, attempt: (i: number) => Promise<string>) {
  ready(bounds);
  const { concurrency, deadline, max } = bounds;
  const outcomes: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < max && performance.now() < deadline) {
      const outcome = await attempt(next++).catch((err: Error) => `error ${err.message.slice(0, 40)}`);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return outcomes;
}

const ATTACKS: Record<string, Attack> = {
  /** One agent opens WebSockets as fast as it can and keeps every one it gets. */
  async connections(url, secret, bounds) {
    const kept: WebSocket[] = [];
    const outcomes = await flood(bounds, () =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`${url.replace(/^http/, "ws")}/v1/ws`, { headers: { authorization: `Bearer ${secret}` } } as unknown as string[]);
        ws.onopen = () => {
          kept.push(ws);
          resolve("opened");
        };
        ws.onerror = () => resolve("refused");
      }),
    );
    for (const ws of kept) ws.close();
    return outcomes;
  },

  /**
   * Fills its own inbox with tasks, then floods ack frames over one WebSocket as fast as the socket takes them,
   * each naming 1,000 task ids and 1,000 message ids (the most a frame may), the same ones over and over;
   * a socket the relay closes, or refuses, is opened again at once.
   */
  async acks(url, secret, bounds) {
    const auth = { authorization: `Bearer ${secret}`, "content-type": "application/json" };
    const self = idOf(secret);
    const ids: string[] = [];
    for (let i = 0; i < 2_000; i += 100) {
      const sent = await Promise.all(Array.from({ length: 100 }, (_, k) => fetch(`${url}/v1/messages`, { method: "POST", headers: auth, body: JSON.stringify({ type: "task", to: self, task: `x${i + k}` }) }).then((r) => r.json() as Promise<{ id: string }>)));
      ids.push(...sent.map((s) => s.id));
    }
    const frame = JSON.stringify({ op: "ack", tasks: ids.slice(0, 1000), ids: ids.slice(1000, 2000) });
    const outcomes: Record<string, number> = { "ack frames of 2,000 ids": 0 };
    const more = () => outcomes["ack frames of 2,000 ids"]! < bounds.max && performance.now() < bounds.deadline;
    while (more()) {
      const ws = new WebSocket(`${url.replace(/^http/, "ws")}/v1/ws?types=broadcast`, { headers: { authorization: `Bearer ${secret}` } } as unknown as string[]);
      let closed = "";
      ws.onclose = (ev) => (closed = `closed by the relay (${ev.code})`);
      const opened = await new Promise<boolean>((resolve) => {
        ws.onopen = () => resolve(true);
        ws.onerror = () => resolve(false);
      });
      ready(bounds);
      // A refused socket (the relay's cooldown after a 1008) is tried again at once, as a flooder would.
      if (!opened) {
        outcomes["sockets refused"] = (outcomes["sockets refused"] ?? 0) + 1;
        continue;
      }
      while (!closed && more()) {
        if (ws.bufferedAmount < 1_000_000) {
          ws.send(frame);
          outcomes["ack frames of 2,000 ids"]!++;
        } else await Bun.sleep(1);
        if (outcomes["ack frames of 2,000 ids"]! % 50 === 0) await Bun.sleep(0);
      }
      if (closed) outcomes[closed] = (outcomes[closed] ?? 0) + 1;
      ws.close();
    }
    return outcomes;
  },

  /** Holds a task it sent itself, and floods progress notes of 9,000 characters about it over HTTP. */
  async progress(url, secret, bounds) {
    const auth = { authorization: `Bearer ${secret}`, "content-type": "application/json" };
    const self = idOf(secret);
    const task = (await (await fetch(`${url}/v1/messages`, { method: "POST", headers: auth, body: JSON.stringify({ type: "task", to: self, task: "hold me" }) })).json()) as { id: string };
    await (await fetch(`${url}/v1/agents/${self}/inbox?ack=true`, { headers: auth })).arrayBuffer();
    ready(bounds);
    const note = "n".repeat(9_000);
    return flood(bounds, async (i) => {
      const res = await fetch(`${url}/v1/messages`, { method: "POST", headers: auth, body: JSON.stringify({ type: "progress", in_reply_to: task.id, note: `${note}${i}` }) });
      await res.arrayBuffer();
      return String(res.status);
    });
  },

  /** Registers new agents as fast as it can, without a token (a relay on loopback needs none). */
  async registrations(url, _secret, bounds) {
    const run = Math.random().toString(36).slice(2, 8);
    return flood(bounds, async (i) => {
      const res = await fetch(`${url}/v1/agents`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: `flood-${run}-${i}` }),
      });
      await res.arrayBuffer();
      return String(res.status);
    });
  },
};

/** The id of the agent whose secret this is (a secret is `<id>.<random>`). */
const idOf = (secret: string) => secret.slice(0, secret.indexOf("."));

if (import.meta.main) {
  const [kind = "", url = "", secret = "", seconds = "5", max = "20000", concurrency = "64"] = process.argv.slice(2);
  const attack = ATTACKS[kind];
  if (!attack) {
    process.stderr.write(`unknown attack ${kind}; attacks: ${Object.keys(ATTACKS).join(", ")}\n`);
    process.exit(2);
  }
  phaseMs = Number(seconds) * 1000;
  const bounds = { deadline: Infinity, max: Number(max), concurrency: Number(concurrency) };
  const outcomes = await attack(url, secret, bounds);
  const report: AttackReport = { attempts: Object.values(outcomes).reduce((a, b) => a + b, 0), outcomes, seconds: (performance.now() - startedAt) / 1000 };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}
