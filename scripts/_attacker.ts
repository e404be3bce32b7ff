/**
 * The attacks of scripts/bench-attacks.ts, each run in a process of its own so that its work does not
 * slow the client being measured. Bounded in count and time; prints one JSON line of what it did.
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

/** Makes `attempt`s, `concurrency` at a time, until `max` of them or the deadline; counts their outcomes. */
async function flood({ concurrency, deadline, max }: Bounds, attempt: (i: number) => Promise<string>) {
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

if (import.meta.main) {
  const [kind = "", url = "", secret = "", seconds = "5", max = "20000", concurrency = "64"] = process.argv.slice(2);
  const attack = ATTACKS[kind];
  if (!attack) {
    process.stderr.write(`unknown attack ${kind}; attacks: ${Object.keys(ATTACKS).join(", ")}\n`);
    process.exit(2);
  }
  const t0 = performance.now();
  const outcomes = await attack(url, secret, { deadline: t0 + Number(seconds) * 1000, max: Number(max), concurrency: Number(concurrency) });
  const report: AttackReport = { attempts: Object.values(outcomes).reduce((a, b) => a + b, 0), outcomes, seconds: (performance.now() - t0) / 1000 };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(0);
}
