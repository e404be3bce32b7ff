/**
 * The bystander of scripts/bench-budgets.ts, in a process of its own so that the attack's client work
 * never delays it: one heartbeat every 5 ms for a while, timed from send to answer.
 *   bun scripts/_bystander.ts URL AGENT_ID SECRET MS     prints `latency {summary in ms}`
 */
import { Histogram } from "./_stats";

const [url, id, secret, ms] = process.argv.slice(2);
const h = new Histogram();
const end = performance.now() + Number(ms);
while (performance.now() < end) {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/agents/${id}/heartbeat`, { method: "POST", headers: { authorization: `Bearer ${secret}` } });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`heartbeat: ${res.status}`);
  h.record((performance.now() - t0) * 1000);
  await Bun.sleep(5);
}
console.log(`latency ${JSON.stringify(h.summary())}`);
