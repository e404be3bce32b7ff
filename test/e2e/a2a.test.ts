/**
 * An A2A client nobody here wrote (@a2a-js/sdk) reaches ClawLink agents through the compiled relay:
 * it reads the cards, and its messages become tasks that `listen --exec … --respond` workers answer.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { TaskState } from "@a2a-js/sdk";
import { DefaultAgentCardResolver } from "@a2a-js/sdk/client";
import { CliProcess, cleanup, cliCommand, eventually, runCli, spawnRelay, tempHome } from "../_helpers";
import { sdkClient, textOf, userText } from "../_a2a";

afterAll(cleanup);

const TOKEN = "a2a-test-token";
// The worker answers with who sent the task and the task's words, shouted.
const SHOUT = `printf 'from=%s ' "$CLAWLINK_FROM"; sed -n 's/.*"task":"\\([^"]*\\)".*/\\1/p' | tr a-z A-Z`;

describe("an A2A client reaches ClawLink agents", async () => {
  const { url } = await spawnRelay(["--token", TOKEN]);
  const member = (home = tempHome()) => ({ home, relay: url, env: { CLAWLINK_TOKEN: TOKEN } });
  const worker = member();
  const slow = member();
  const idle = member();
  const boss = member();
  expect((await runCli(["register", "--name", "shouter", "--caps", "shouting,text", "--description", "Shouts back"], worker)).code).toBe(0);
  expect((await runCli(["register", "--name", "slowpoke", "--caps", "patience"], slow)).code).toBe(0);
  expect((await runCli(["register", "--name", "idle"], idle)).code).toBe(0);
  const bossId = (await runCli(["register", "--name", "boss", "--json"], boss)).json.id;
  const bossSecret = (await Bun.file(`${boss.home}/identities/boss.json`).json()).secret;
  const listener = new CliProcess(["listen", "--exec", SHOUT, "--respond", "--type", "task"], worker);
  const slowListener = new CliProcess(["listen", "--exec", "sleep 1; echo done", "--respond", "--type", "task"], slow);
  await listener.waitFor(/listening as shouter/);
  await slowListener.waitFor(/listening as slowpoke/);

  test("cards: the relay's lists the online agents' capabilities; an agent's names its interfaces, streaming and bearer auth", async () => {
    const resolver = new DefaultAgentCardResolver();
    const relayCard = await resolver.resolve(url);
    expect(relayCard.skills.map((s) => s.id)).toEqual(["patience", "shouting", "text"]);
    expect(relayCard.supportedInterfaces.map((i) => i.url)).toEqual([`${url}/a2a/relay`, `${url}/a2a/relay`]);

    const card = await resolver.resolve(`${url}/a2a/shouter/`);
    expect(card).toMatchObject({ name: "shouter", description: "Shouts back", capabilities: { streaming: true, pushNotifications: false } });
    expect(card.skills.map((s) => s.id)).toEqual(["shouting", "text"]);
    expect(card.supportedInterfaces.map((i) => [i.protocolBinding, i.url, i.protocolVersion])).toEqual([
      ["JSONRPC", `${url}/a2a/shouter`, "1.0"],
      ["HTTP+JSON", `${url}/a2a/shouter`, "1.0"],
    ]);
    expect(card.securitySchemes.bearer?.scheme).toMatchObject({ $case: "httpAuthSecurityScheme", value: { scheme: "Bearer" } });
  });

  test("a blocking SendMessage waits for the worker; the answer is the task's artifact, and the worker saw the sender a2a", async () => {
    const client = await sdkClient(`${url}/a2a/shouter`, TOKEN);
    const task = (await client.sendMessage({ message: userText("hello over a2a") } as any)) as any;
    expect(task.status.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(textOf(task.artifacts[0])).toBe("from=a2a HELLO OVER A2A");
    expect(task.metadata.clawlink).toMatchObject({ from: "a2a", state: "completed" });
  });

  test("returnImmediately answers at once with a submitted task; GetTask (over HTTP+JSON) follows it to its result", async () => {
    const client = await sdkClient(`${url}/a2a/slowpoke`, TOKEN, "HTTP+JSON");
    const task = (await client.sendMessage({ message: userText("take your time"), configuration: { returnImmediately: true } } as any)) as any;
    expect(task.status.state).toBe(TaskState.TASK_STATE_SUBMITTED);
    const done = await eventually(async () => {
      const t = (await client.getTask({ id: task.id, tenant: "" } as any)) as any;
      return t.status.state === TaskState.TASK_STATE_COMPLETED && t;
    }, 15_000);
    expect(textOf(done.artifacts[0])).toBe("done");
    const listed = (await client.listTasks({ tenant: "", contextId: "", status: 0, pageToken: "" } as any)) as any;
    expect(listed.tasks.map((t: any) => t.id)).toContain(task.id);
  });

  test("CancelTask cancels a task nobody took yet; canceling it again is TaskNotCancelableError", async () => {
    const client = await sdkClient(`${url}/a2a/idle`, TOKEN);
    const task = (await client.sendMessage({ message: userText("never taken"), configuration: { returnImmediately: true } } as any)) as any;
    const canceled = (await client.cancelTask({ id: task.id, tenant: "" } as any)) as any;
    expect(canceled.status.state).toBe(TaskState.TASK_STATE_CANCELED);
    expect(textOf(canceled.status.message)).toBe("canceled by its A2A client");
    const again = await client.cancelTask({ id: task.id, tenant: "" } as any).catch((e) => e);
    expect(again.name).toBe("TaskNotCancelableError");
    expect(again.message).toContain("already canceled");
    const missing = await client.getTask({ id: "t_nosuchtask", tenant: "" } as any).catch((e) => e);
    expect(missing.name).toBe("TaskNotFoundError");
  });

  test("SendStreamingMessage streams the task, its states, the artifact and the final status", async () => {
    const client = await sdkClient(`${url}/a2a/slowpoke`, TOKEN);
    const events: any[] = [];
    for await (const e of client.sendMessageStream({ message: userText("stream it") } as any)) events.push(e.payload);
    expect(events[0].$case).toBe("task");
    expect(events[0].value.status.state).toBe(TaskState.TASK_STATE_SUBMITTED);
    const artifact = events.find((e) => e.$case === "artifactUpdate");
    expect(textOf(artifact.value.artifact)).toBe("done");
    expect(events.at(-1)).toMatchObject({ $case: "statusUpdate", value: { status: { state: TaskState.TASK_STATE_COMPLETED } } });
  });

  test("SubscribeToTask (over HTTP+JSON) picks up a running task and ends with it", async () => {
    const client = await sdkClient(`${url}/a2a/slowpoke`, TOKEN, "HTTP+JSON");
    const task = (await client.sendMessage({ message: userText("follow me"), configuration: { returnImmediately: true } } as any)) as any;
    const events: any[] = [];
    for await (const e of client.resubscribeTask({ id: task.id, tenant: "" } as any)) events.push(e.payload);
    expect(events[0]).toMatchObject({ $case: "task", value: { id: task.id } });
    expect(events.at(-1)).toMatchObject({ $case: "statusUpdate", value: { status: { state: TaskState.TASK_STATE_COMPLETED } } });
  });

  test("an agent's secret acts as that agent: the task is from boss, and another caller cannot see it", async () => {
    const asBoss = await sdkClient(`${url}/a2a/shouter`, bossSecret);
    const task = (await asBoss.sendMessage({ message: userText("boss says hi") } as any)) as any;
    expect(textOf(task.artifacts[0])).toBe(`from=${bossId} BOSS SAYS HI`);
    const viaCli = await runCli(["task", "--id", task.id, "--json"], boss);
    expect(viaCli.json).toMatchObject({ state: "completed", from: bossId, context: { a2a: { messageId: expect.any(String) } } });
    const asToken = await sdkClient(`${url}/a2a/shouter`, TOKEN);
    expect((await asToken.getTask({ id: task.id, tenant: "" } as any).catch((e) => e)).name).toBe("TaskNotFoundError");
  });
});

describe("on a relay without a token", async () => {
  const { url } = await spawnRelay();
  const worker = { home: tempHome(), relay: url };
  expect((await runCli(["register", "--name", "noter", "--caps", "notes"], worker)).code).toBe(0);
  // Two progress notes, a second apart, then the answer.
  const cli = cliCommand().map((w) => `'${w}'`).join(" ");
  const NOTES = `${cli} progress --msg-id "$CLAWLINK_MSG_ID" --note "step 1 of 2"; sleep 1; ${cli} progress --msg-id "$CLAWLINK_MSG_ID" --note "step 2 of 2"; sleep 1; echo done`;
  const listener = new CliProcess(["listen", "--exec", NOTES, "--respond", "--type", "task"], worker);
  await listener.waitFor(/listening as noter/);

  test("a client without credentials acts as the shared sender a2a (as anyone may register here), as the card says", async () => {
    const card = await new DefaultAgentCardResolver().resolve(`${url}/a2a/noter/`);
    expect(card.securityRequirements).toEqual([]);
    const client = await sdkClient(`${url}/a2a/noter`, undefined);
    const task = (await client.sendMessage({ message: userText("no token here"), configuration: { returnImmediately: true } } as any)) as any;
    expect(task.metadata.clawlink.from).toBe("a2a");
    // A credential that is wrong is still refused, token or not.
    const wrong = await sdkClient(`${url}/a2a/noter`, "not-a-secret");
    const refused = await wrong.sendMessage({ message: userText("hi") } as any).catch((e) => e);
    expect(String(refused.message)).toContain("the bearer token is neither the relay token nor a registered agent's secret");
  });

  test("every progress note reaches the stream as the status message; the task keeps the latest as note and one working entry", async () => {
    const client = await sdkClient(`${url}/a2a/noter`, undefined);
    const events: any[] = [];
    for await (const e of client.sendMessageStream({ message: userText("take notes") } as any)) events.push(e.payload);
    const working = events.filter((e) => e.$case === "statusUpdate" && e.value.status.state === TaskState.TASK_STATE_WORKING).map((e) => textOf(e.value.status.message));
    expect(working).toEqual(["step 1 of 2", "step 2 of 2"]);
    expect(events.at(-1)).toMatchObject({ $case: "statusUpdate", value: { status: { state: TaskState.TASK_STATE_COMPLETED } } });
    const id = events[0].value.id;
    const seen = (await runCli(["task", "--id", id, "--json"], worker)).json;
    expect(seen.note).toBe("step 2 of 2");
    expect(seen.history.filter((h: any) => h.state === "working")).toEqual([expect.objectContaining({ note: "step 1 of 2" })]);
  });
});
