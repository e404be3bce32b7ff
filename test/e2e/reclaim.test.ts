/** The review's H4 with the binary: a relay restarted in memory, a token holder registers bob's name first, bob comes back. */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { CliProcess, cleanup, freePort, runCli, spawnRelay, tempHome } from "../_helpers";

afterAll(cleanup);

const env = { CLAWLINK_TOKEN: "team-token" };

/** bob registers on a relay with --key-file and a token, and the relay restarts in memory on the same port. */
async function bobThenRestart() {
  const key = join(tempHome(), "relay.key");
  const port = freePort();
  let { relay, url } = await spawnRelay(["--key-file", key], env, port);
  const owner = { home: tempHome(), relay: url, env };
  const squatter = { home: tempHome(), relay: url, env };
  const ownerId: string = (await runCli(["register", "--name", "bob", "--json"], owner)).json.id;
  await relay.stop();
  ({ relay, url } = await spawnRelay(["--key-file", key], env, port));
  return { relay, url, owner, squatter, ownerId };
}

test("after a restart with --key-file, the owner takes its name back from a squatter, who is told, and bob's tasks reach the owner", async () => {
  const { relay, url, owner, squatter, ownerId } = await bobThenRestart();
  const alice = { home: tempHome(), relay: url, env };
  const squat = await runCli(["register", "--name", "bob", "--json"], squatter);
  expect(squat.code).toBe(0);
  const squatterId = squat.json.id;
  const listening = new CliProcess(["listen"], squatter);
  await listening.waitFor(/as bob/);

  const back = await runCli(["heartbeat", "--json"], owner);
  expect(back.code).toBe(0);
  expect(back.json).toMatchObject({ id: ownerId, name: "bob", reregistered: true });

  expect(await listening.proc.exited).toBe(6);
  expect(listening.stderr).toContain(`bob (${squatterId}) was removed: its name was reclaimed by the agent that held it before the relay restarted (name reclaimed by ${ownerId})`);
  const told = await runCli(["heartbeat"], squatter);
  expect(told.code).toBe(6);
  expect(told.stderr).toContain(`agent ${squatterId} was removed: the name "bob" was reclaimed by agent ${ownerId}, which held it before the relay restarted`);
  const again = await runCli(["register", "--name", "bob"], squatter);
  expect(again.code).toBe(6);
  expect(again.stderr).toContain(`the name "bob" belongs to agent ${ownerId}`);

  expect((await runCli(["register", "--name", "alice"], alice)).code).toBe(0);
  const sent = await runCli(["delegate", "--to", "bob", "--task", "ship it", "--json"], alice);
  expect(sent.json.to).toBe(ownerId);
  const inbox = await runCli(["poll", "--json"], owner);
  expect(inbox.json).toEqual([expect.objectContaining({ type: "task", task: "ship it" })]);
  await relay.stop();
});

test("the owner coming back with `listen` takes its name back too, and receives bob's tasks live", async () => {
  const { relay, url, owner, squatter, ownerId } = await bobThenRestart();
  expect((await runCli(["register", "--name", "bob"], squatter)).code).toBe(0);

  const listening = new CliProcess(["listen", "--json"], owner);
  await listening.waitFor(new RegExp(`listening as bob \\(${ownerId}\\)`));
  const sent = await runCli(["delegate", "--to", "bob", "--task", "from the squatter's peer", "--json"], squatter);
  // The squatter was removed: it cannot even send any more.
  expect(sent.code).toBe(6);
  const alice = { home: tempHome(), relay: url, env };
  await runCli(["register", "--name", "alice"], alice);
  await runCli(["delegate", "--to", "bob", "--task", "welcome back"], alice);
  await listening.waitFor(/welcome back/);
  await listening.stop();
  await relay.stop();
});
