import { print, printError } from "../output";
import type { Client } from "../client/client";
import { progressWanted, Spinner } from "../client/progress";
import { printable } from "../client/render";
import { waitForTask } from "../client/wait";
import { followHolder, whereIs, type HolderLost } from "../client/holder";
import { ClawlinkError } from "../errors";
import { Capability, JsonObject, Priority, PRIORITIES, type Task } from "../protocol/schemas";
import { LIMIT } from "../protocol/constants";
import { readTextArg } from "./_input";
import { nearestWord } from "./_flag-hint";
import { EXIT, defineClientCommand, parseArg, secondsArg, textArg, usage } from "./_shared";


/** 128 + SIGINT, as a shell reports a command stopped with Ctrl-C. */
const EXIT_FOR_STATE = { completed: EXIT.ok, failed: EXIT.taskFailed, canceled: EXIT.taskCanceled, expired: EXIT.taskExpired } as const;

export default defineClientCommand({
  meta: { name: "delegate", description: "Send a task to an agent (--to) or to any agent with a capability (--cap)" },
  examples: [
    "clawlink delegate --to reviewer --task \"Review src/api.py\" --wait --timeout 600",
    "clawlink delegate --cap python --task \"Write tests for utils.py\" --context '{\"file\":\"utils.py\"}' --priority high",
    "clawlink delegate --to builder --task \"Build the release\" --idempotency-key release-42 --json",
    "clawlink delegate --cap code-review --task-file review-request.md --wait",
  ],
  args: {
    to: { type: "string", description: "Recipient agent id or name", valueHint: "agent" },
    cap: { type: "string", description: "Instead of --to: the least busy online agent with this capability", valueHint: "cap" },
    task: { type: "string", description: "What to do, in words", valueHint: "text" },
    "task-file": { type: "string", description: "Read the task from a file ('-' for stdin) instead of --task: for one longer than the command line takes (128 KiB); one over 1,000,000 characters is refused unsent (exit 2)", valueHint: "path" },
    context: { type: "string", description: "A JSON object with whatever the task needs", valueHint: "json" },
    priority: { type: "string", description: `One of ${PRIORITIES.join(", ")}`, default: "normal", valueHint: PRIORITIES.join("|") },
    wait: { type: "boolean", description: "Block until the task ends and print the response (exit 0 completed, 10 failed, 11 canceled, 12 expired, 13 timeout, 14 holder lost with --on-holder-lost fail, 130 stopped with Ctrl-C; the task keeps running)" },
    "on-holder-lost": { type: "string", description: "With --wait, when the task's holder goes offline: wait (default; the task goes to another capable agent, or waits for its agent) or fail (exit 14 at once)", default: "wait", valueHint: "wait|fail" },
    timeout: { type: "string", description: "With --wait: give up after this many seconds (at most 86400, a day)", default: "300", valueHint: "s" },
    lease: { type: "string", description: "Seconds the holder may go without a sign of life (ack, progress, heartbeat; a connected listen counts) before the task goes back (at most 604800, 7 days)", default: "600", valueHint: "s" },
    ttl: { type: "string", description: "Expire the task if not delivered within this many seconds (at most 2592000, 30 days)", valueHint: "s" },
    "idempotency-key": { type: "string", description: "Retrying with the same key returns the first task instead of sending again (at most 200 characters)", valueHint: "key" },
    queue: { type: "boolean", description: "With --cap: hold the task until an agent with the capability registers" },
  },
  async run(ctx) {
    const { args } = ctx;
    if ((args.to === undefined) === (args.cap === undefined)) throw usage("pass exactly one of --to AGENT and --cap CAPABILITY");
    if (args.queue && args.cap === undefined) throw usage("--queue goes with --cap");
    // --timeout and --on-holder-lost have defaults, so only the command line tells whether they were given.
    const waitOnly = args.wait ? undefined : ["--timeout", "--on-holder-lost"].find((f) => ctx.given(f));
    if (waitOnly) throw usage(`${waitOnly} goes with --wait: without it delegate sends the task and returns at once`, `add --wait to block until the task ends, or drop ${waitOnly}`);
    const onLost = args["on-holder-lost"];
    if (onLost !== "wait" && onLost !== "fail") throw usage(`--on-holder-lost must be wait or fail, not "${onLost}"`, "fail exits 14 as soon as the task's holder goes offline; wait keeps waiting while the relay hands the task on");
    let context: Record<string, unknown> = {};
    if (args.context !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(args.context);
      } catch (err) {
        throw usage(
          `--context is not valid JSON (${(err as Error).message}): keys and strings need double quotes`,
          `pass a JSON object in single quotes, e.g. --context '{"repo":"api","branch":"main"}'`,
        );
      }
      context = parseArg(JsonObject, parsed, "--context (a JSON object)");
    }
    const text = await readTextArg(args.task, args["task-file"], "--task");
    if (text === undefined) throw usage("pass --task TEXT or --task-file PATH", "say what the agent should do: --task \"Review src/api.py\", or --task-file task.md for a long one");
    if (text.trim() === "") throw usage("--task must not be empty: say what the agent should do");
    // Everything is checked before anything is sent: a usage error (exit 2) never leaves a task behind.
    const message = {
      type: "task" as const,
      ...(args.to !== undefined ? { to: args.to } : { cap: parseArg(Capability, args.cap!.toLowerCase(), "--cap") }),
      task: text,
      context,
      priority: parseArg(Priority, args.priority.toLowerCase(), "--priority"),
      lease_s: secondsArg(args.lease, "--lease", { value: LIMIT.leaseS, said: `${LIMIT.leaseS} (7 days)` }),
      ...(args.ttl !== undefined ? { ttl_s: secondsArg(args.ttl, "--ttl", { value: LIMIT.taskTtlS, said: `${LIMIT.taskTtlS} (30 days)` }) } : {}),
      ...(args["idempotency-key"] ? { idempotency_key: textArg(args["idempotency-key"], "--idempotency-key", LIMIT.idempotencyKeyLength) } : {}),
      queue: Boolean(args.queue),
    };
    const timeout = secondsArg(args.timeout, "--timeout", { value: LIMIT.waitS, said: `${LIMIT.waitS} (a day)` });
    ctx.me();
    const sent = await ctx.client.send(message).catch(async (err) => Promise.reject(args.to !== undefined ? await nearAgent(ctx.client, err, args.to) : err));
    // The worker by name, as the user knows it: --to NAME as given, else the relay's name for the id.
    const workerName = async () => (sent.to ? (args.to && !args.to.startsWith("a_") ? args.to : await ctx.client.agent(sent.to).then((a) => a.name, () => undefined)) : undefined);
    if (!args.wait) {
      const name = ctx.json ? undefined : await workerName();
      const to = sent.to ? ` to ${name ? `${name} (${sent.to})` : sent.to}` : " (waiting for a capable agent)";
      // stdout carries just the id, so `ID=$(clawlink delegate ...)` works; the rest is for the reader.
      ctx.out(sent, () => {
        print(printable(sent.id));
        printError(printable(`${sent.duplicate ? "already sent as" : "sent task"} ${sent.id}${to}; follow it: clawlink task --id ${sent.id}`));
      });
      return;
    }
    const worker = sent.to ? ((await workerName()) ?? sent.to) : undefined;
    // Written plainly, not through console.error, which a terminal shows in the error colour: nothing is wrong yet.
    process.stderr.write(printable(`waiting up to ${timeout}s for task ${sent.id}${worker ? ` (sent to ${worker})` : ""}`) + "\n");
    const spinner = progressWanted(ctx.json) ? new Spinner(`task ${sent.id}: sent`) : undefined;
    let outcome;
    let lost: HolderLost | undefined;
    // Ctrl-C stops the wait, not the task: say so, with the command that follows it.
    const interrupted = new AbortController();
    const onSigint = () => interrupted.abort();
    process.once("SIGINT", onSigint);
    const follow = spinner && followState(ctx.client, spinner, worker, sent.id);
    // The holder going offline and the task moving on are one line each on stderr, whatever the terminal.
    // A spinner's line is wiped first; it draws itself again below.
    const line = (text: string) => process.stderr.write(`${spinner ? "\r\x1b[K" : ""}${printable(text)}\n`);
    const onHolder = followHolder((l) => {
      line(`task ${sent.id}: holder ${l.holder} went offline`);
      if (onLost === "fail") {
        lost = l;
        return interrupted.abort();
      }
      line(`task ${sent.id}: ${l.then}`);
    });
    try {
      outcome = await waitForTask(ctx.client, sent.id, timeout * 1000, {
        signal: interrupted.signal,
        onUpdate: (task) => {
          onHolder(task);
          if (!lost) follow?.(task);
        },
      });
    } catch (err) {
      // The spinner's line is wiped before any message, so the message starts at the left margin.
      spinner?.stop();
      if (err instanceof ClawlinkError && (err.code === "timeout" || err.code === "aborted")) {
        // Where the task is now, told truthfully: its state, its holder, and whether that holder can be reached.
        const now = await ctx.client.task(sent.id).then((t) => whereIs(t), () => undefined);
        const stillRunning = `it keeps running, check \`clawlink task --id ${sent.id}\`${now ? `; it is ${now}` : ""}`;
        const [code, message, exit] = lost
          ? ["holder_lost", `task ${sent.id}: holder ${lost.holder} went offline (--on-holder-lost fail)`, EXIT.holderLost]
          : err.code === "aborted"
            ? ["aborted", `stopped waiting for task ${sent.id}`, EXIT.interrupted]
            : ["timeout", err.message, EXIT.timeout];
        if (ctx.json) print(JSON.stringify({ error: { code, message, hint: stillRunning }, id: sent.id }));
        else printError(printable(`error: ${message}\nhint: ${stillRunning}`));
        return exit;
      }
      throw err;
    } finally {
      process.off("SIGINT", onSigint);
      spinner?.stop();
    }
    const { task, response } = outcome;
    const state = task.state as keyof typeof EXIT_FOR_STATE;
    if (response) ctx.out(response, response.result);
    else ctx.out(task, `task ${task.id} ${task.state}: ${task.history.at(-1)?.note ?? ""}`);
    if (!ctx.json && task.state !== "completed") printError(printable(`task ${task.id} ${task.state}${response ? " (its result is above)" : ""}`));
    return EXIT_FOR_STATE[state] ?? EXIT.error;
  },
});

/** The spinner's line for each state the task passes through: "queued", "delivered to bob", "working (bob): running tests". */
function followState(client: Client, spinner: Spinner, worker: string | undefined, taskId: string) {
  const names = new Map<string, string>();
  let last: Task | undefined;
  const render = (task: Task) => {
    const holder = task.to ? (names.get(task.to) ?? task.to) : undefined;
    // The holder's latest progress note: a new note in the same state replaces the last one.
    const note = task.note;
    const line =
      task.state === "queued"
        ? `queued${holder ? ` for ${holder}` : task.cap ? ` until an agent with ${task.cap} is online` : ""}`
        : task.state === "delivered"
          ? `delivered to ${holder}`
          : `${task.state}${holder ? ` (${holder})` : ""}${note && task.state === "working" ? `: ${note}` : ""}`;
    // The worker's name and note come from the relay: shown as text, never as terminal controls.
    spinner.set(printable(`task ${taskId}: ${line}`, true));
  };
  return (task: Task) => {
    last = task;
    if (task.to && !names.has(task.to)) {
      if (worker && !worker.startsWith("a_")) names.set(task.to, worker);
      else {
        // The relay names the worker by id; its name follows when the relay answers.
        names.set(task.to, task.to);
        client.agent(task.to).then((a) => (names.set(a.id, a.name), last && render(last)), () => {});
      }
    }
    render(task);
  };
}

/** `--to Bob` when only bob is registered: names are case-sensitive, so the hint names the agent meant. */
async function nearAgent(client: Client, err: unknown, to: string): Promise<unknown> {
  if (!(err instanceof ClawlinkError) || err.code !== "unknown_agent" || to.startsWith("a_")) return err;
  const names = await client.agents({ all: true }).then((agents) => agents.map((a) => a.name), () => []);
  const near = names.find((n) => n.toLowerCase() === to.toLowerCase()) ?? nearestWord(to, names);
  if (!near) return err;
  return new ClawlinkError(err.code, err.message, `did you mean --to ${near}? names are case-sensitive; \`clawlink discover --all\` lists the agents`, { status: err.status });
}
