/** Tools about agents and the inbox: who am I, joining, finding others, reading messages, broadcasting. */
import * as v from "valibot";
import { agentNames, renderMessage, renderStatus } from "../../client/render";
import { checkSelf, registerAgent } from "../../client/session";
import { usage } from "../../commands/_shared";
import { ClawlinkError } from "../../errors";
import { LIMIT } from "../../protocol/constants";
import { Capability, NewAgentName, MESSAGE_TYPES, RegisterRequest, SendBroadcast, type Agent, type Message } from "../../protocol/schemas";
import { toolHint } from "../hints";
import { args, describe } from "../schema";
import { defineTool } from "./_tool";

export const whoami = defineTool({
  name: "whoami",
  description:
    "Who you are on ClawLink: your agent name and id, the relay and whether it is reachable, and how many messages wait for you. Call it first; if you are not registered, call register.",
  readOnly: true,
  args: args({}),
  async run(s) {
    const { status, problem } = await checkSelf(s.ctx);
    // The problem's next step, in tool terms (`register`, not `clawlink register`).
    if (status.problem && problem) status.problem.hint = toolHint(problem, { tool: "whoami", args: {}, as: s.wanted });
    const held = s.mailbox.size;
    const elsewhere = status.in_flight === null ? null : Math.max(0, status.in_flight - held);
    const text = `${renderStatus(status)}\nheld        ${held} (announced, waiting for the inbox tool)${elsewhere ? `\n${heldElsewhere(elsewhere)}` : ""}`;
    return { data: { ...status, held, held_elsewhere: elsewhere }, text };
  },
});

/** Messages the relay handed to another connection of this agent: this server never sees them while that one holds them. */
const heldElsewhere = (n: number) =>
  `${n} message(s) for this agent were handed to another connection of it (another clawlink mcp on the same identity, a listen, or a poll) and wait there until it acknowledges them or lets them go; give each session its own identity (--as NAME)`;

export const register = defineTool({
  name: "register",
  description:
    "Join the relay as an agent with a unique name, capabilities (what you can do, e.g. code-review, python) and a one-sentence description, so others can find you and delegate to you. The identity is saved; this server acts as it from then on and announces the messages that arrive for it. Registering the same name again updates the capabilities and description you pass (left out, they stay); another name switches this server to that agent.",
  args: args({
    name: describe(v.optional(NewAgentName), "Your unique agent name, e.g. reviewer (not starting with a_, and not relay or a2a); defaults to the name the server was started with (--as)"),
    caps: describe(v.optional(RegisterRequest.entries.caps.wrapped), "Capabilities, lowercase, e.g. [\"code-review\", \"python\"]; left out, a name registered before keeps its own"),
    description: describe(v.optional(RegisterRequest.entries.description.wrapped), "What you do, in a sentence"),
  }),
  async run(s, { name = s.wanted, ...a }) {
    if (name === undefined) throw usage("register: name is required (this server was started without --as)", "call register with name: a unique agent name, e.g. reviewer");
    const before = s.ctx.identity;
    const agent = await registerAgent(s.ctx, { ...a, name });
    s.become(agent.name);
    const switched = before && before.name !== agent.name ? `; this server acted as ${before.name} until now, and acts as ${agent.name} from now on` : "";
    return {
      data: agent,
      text: `registered ${agent.name} as ${agent.id} with ${s.ctx.client.relay} (identity saved in ${s.ctx.home}); messages for ${agent.name} are announced from now on${switched}`,
    };
  },
});

export const discover = defineTool({
  name: "discover",
  description:
    "List the agents on the relay: name, id, capabilities, description, and whether they are online. Use it to choose whom to delegate to, by name (delegate's to) or by capability (delegate's cap).",
  readOnly: true,
  args: args({
    cap: describe(v.optional(Capability), "Only agents with this capability"),
    all: describe(v.optional(v.boolean(), false), "Include stale agents (not seen for 120 s)"),
  }),
  async run(s, a) {
    const agents = await s.ctx.client.agents(a);
    const text = agents.length ? agents.map(describeAgent).join("\n") : `no ${a.all ? "" : "online "}agent${a.cap ? ` has the capability "${a.cap}"` : " is registered"}`;
    return { data: { agents }, text };
  },
});

const describeAgent = (a: Agent) =>
  `${a.name} (${a.id}) ${a.connected ? "online, listening" : a.status}; caps: ${a.caps.join(", ") || "none"}${a.description ? `; ${a.description}` : ""}`;

export const inbox = defineTool({
  name: "inbox",
  description:
    "Take the messages waiting for you, oldest first: tasks to do, responses to tasks you sent, progress, broadcasts, task status changes and shared-file changes. They are acknowledged (not delivered again) unless ack is false, which only looks. With wait_s, wait up to that long for the first one. Answer a task with respond.",
  args: args({
    max: describe(v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1000)), 50), "At most this many messages"),
    wait_s: describe(v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(LIMIT.pollWaitS, `wait_s must be at most ${LIMIT.pollWaitS}`)), 0), "Wait up to this many seconds for a message when none waits"),
    types: describe(v.optional(v.array(v.picklist(MESSAGE_TYPES, `message types are ${MESSAGE_TYPES.join(", ")}`))), "Only these message types; the others stay for a later call"),
    ack: describe(v.optional(v.boolean(), true), "false: only look; the messages stay and come back on the next call"),
  }),
  async run(s, a, call) {
    const me = s.ctx.me();
    const { client } = s.ctx;
    const types = a.types ? new Set<string>(a.types) : undefined;
    const deadline = Date.now() + a.wait_s * 1000;
    while (s.mailbox.peek(a.max, types).length === 0 && Date.now() < deadline && !call.signal.aborted) {
      // Whichever comes first: a push on the stream, or a long poll (which is what answers when the stream is down).
      // A poll that wakes empty-handed saw a message go to the stream, which is about to bring it: wait on.
      const left = deadline - Date.now();
      const settled = new AbortController();
      const signal = AbortSignal.any([settled.signal, call.signal]);
      const polled = await Promise.race([
        s.mailbox.next(left, signal).then(() => []),
        client.inbox(me.id, { wait: Math.ceil(left / 1000), max: a.max, signal }).catch((err) => (signal.aborted ? [] : Promise.reject(err))),
      ]);
      settled.abort();
      for (const m of polled) s.mailbox.keep(m);
    }
    // What the stream has not brought (it is down, or backed up) is still queued on the relay.
    for (const m of await client.inbox(me.id, { max: a.max })) s.mailbox.keep(m);
    const messages = s.mailbox.peek(a.max, types);
    // A call the client gave up on reaches no one: what it would return stays held.
    if (call.signal.aborted) throw new ClawlinkError("aborted", "the inbox call was canceled; nothing was taken", "call inbox again");
    let acked = false;
    let note = "";
    if (messages.length === 0) {
      // Nothing here: say whether the relay handed this agent's messages to another of its connections.
      const beat = await client.heartbeat(me.id).catch(() => undefined);
      const elsewhere = beat?.in_flight === undefined ? 0 : Math.max(0, beat.in_flight - s.mailbox.size);
      if (elsewhere) note = `\n(${heldElsewhere(elsewhere)})`;
    }
    if (a.ack && messages.length) {
      try {
        await client.ack(me.id, messages.map((m) => m.id));
        s.mailbox.remove(messages.map((m) => m.id));
        acked = true;
      } catch (err) {
        if (!(err instanceof ClawlinkError)) throw err;
        note = `\n(not acknowledged: ${err.message}; they will come again)`;
      }
    }
    return { data: { messages, acked }, text: await renderInbox(s.ctx.client, messages) + note };
  },
});

async function renderInbox(client: Parameters<typeof agentNames>[0], messages: Message[]): Promise<string> {
  if (messages.length === 0) return "no messages";
  const names = await agentNames(client);
  const tasks = messages.some((m) => m.type === "task");
  return messages.map((m) => renderMessage(m, names, false)).join("\n") + (tasks ? "\nAnswer a task with respond (its id and your result)." : "");
}

export const broadcast = defineTool({
  name: "broadcast",
  description: "Share a finding with every other agent: it arrives in their inboxes (and is announced to those listening). For work you want done, use delegate instead.",
  args: args({
    content: describe(SendBroadcast.entries.content, "The finding, as text"),
    topic: describe(SendBroadcast.entries.topic, "A short topic, e.g. build"),
    tags: describe(SendBroadcast.entries.tags, "Tags, e.g. [\"flaky\", \"ci\"]"),
  }),
  async run(s, a) {
    s.ctx.me();
    const sent = await s.ctx.client.send({ type: "broadcast", ...a });
    return { data: { id: sent.id, recipients: sent.recipients ?? 0 }, text: `broadcast ${sent.id} to ${sent.recipients ?? 0} agent(s)` };
  },
});
