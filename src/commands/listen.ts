import { agentNames, printable, renderMessage } from "../client/render";
import { followInbox } from "../client/stream";
import { logger } from "../logger";
import { MESSAGE_TYPES, MessageTypes, type Message, type SendMessage } from "../protocol/schemas";
import { defineClientCommand, parseArg, usage } from "./_shared";
import { sendPersistently } from "../client/deliver";

function killTree(proc: ReturnType<typeof Bun.spawn>) {
  try {
    if (process.platform === "win32") proc.kill();
    else process.kill(-proc.pid, "SIGTERM");
  } catch {}
}

export default defineClientCommand({
  meta: { name: "listen", description: "Receive messages the moment they arrive (tasks, responses, broadcasts, file changes); reconnects by itself. With --exec, run a command per message" },
  longRunning: true,
  examples: [
    "clawlink listen",
    "clawlink listen --json",
    "clawlink listen --exec './handle.sh' --respond --type task",
  ],
  args: {
    exec: { type: "string", description: "Run this shell command per message, with the message JSON on stdin", valueHint: "cmd" },
    respond: { type: "boolean", description: "With --exec: answer each task with the command's stdout (exit 0 completed, else failed)" },
    type: {
      type: "string",
      description: `Only take these message types (comma-separated: ${MESSAGE_TYPES.join(", ")}); the others stay in your inbox for poll`,
      valueHint: MESSAGE_TYPES.join("|"),
    },
  },
  async run(ctx) {
    const types = ctx.args.type === undefined ? undefined : parseArg(MessageTypes, ctx.args.type, "--type");
    if (ctx.args.respond && !ctx.args.exec) throw usage("--respond goes with --exec: it answers each task with the command's stdout");
    const me = ctx.me();
    const { client } = ctx;
    let names = new Map<string, string>();
    let stopping = false;
    let child: ReturnType<typeof Bun.spawn> | undefined;

    const runExec = async (cmd: string, m: Message, respond: boolean) => {
      const shell = process.platform === "win32" ? ["cmd", "/c", cmd] : ["sh", "-c", cmd];
      const proc = (child = Bun.spawn(shell, {
        stdin: new Blob([JSON.stringify(m)]),
        stdout: respond && m.type === "task" ? "pipe" : "inherit",
        stderr: respond && m.type === "task" ? "pipe" : "inherit",
        // Its own process group, so stopping the listener stops the whole handler.
        detached: process.platform !== "win32",
        // A task names itself and its attempt, so a handler can skip work a first attempt already did.
        env: {
          ...process.env,
          CLAWLINK_MSG_ID: m.id,
          CLAWLINK_MSG_TYPE: m.type,
          CLAWLINK_FROM: m.from,
          ...(m.type === "task" ? { CLAWLINK_TASK_ID: m.id, CLAWLINK_ATTEMPT: String(m.attempt) } : {}),
        },
      }));
      const [out, err, code] = await Promise.all([
        proc.stdout instanceof ReadableStream ? new Response(proc.stdout).text() : "",
        proc.stderr instanceof ReadableStream ? new Response(proc.stderr).text() : "",
        proc.exited,
      ]);
      child = undefined;
      if (stopping) return;
      logger.info(printable(`${m.type} ${m.id}: \`${cmd}\` exited ${code}`));
      if (respond && m.type === "task") {
        await sendResponse(m.id, { type: "response", in_reply_to: m.id, status: code === 0 ? "completed" : "failed", result: code === 0 ? out.trimEnd() : (err || out).trimEnd() });
      }
    };

    // The task is acknowledged once this returns, so a relay that is away for a while is waited for, not given up on.
    const sendResponse = (id: string, response: SendMessage) => sendPersistently(client, response, id, () => stopping);

    return await followInbox({
      client,
      me,
      home: ctx.home,
      doing: "listening",
      types,
      handle: async (m) => {
        if (ctx.args.exec) await runExec(ctx.args.exec, m, Boolean(ctx.args.respond));
        else if (ctx.json) ctx.out(m);
        else {
          if (!names.has(m.from) && m.from !== "relay") {
            names = await agentNames(client); // a sender not seen before
            if (!names.has(m.from)) names.set(m.from, ""); // gone: ask once, show the id
          }
          ctx.out(m, renderMessage(m, names));
        }
      },
      onStop: () => {
        stopping = true;
        // A handler still running would keep the process alive; its message is redelivered later.
        if (child) killTree(child);
      },
    });
  },
});
