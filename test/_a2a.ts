/** A2A test doubles that nobody here wrote: @a2a-js/sdk's client, authenticated, and its server as an external agent on Bun.serve. */
import { AgentCard, Role, TaskState, type Message } from "@a2a-js/sdk";
import { ClientFactory, ClientFactoryOptions, DefaultAgentCardResolver, JsonRpcTransportFactory, RestTransportFactory } from "@a2a-js/sdk/client";
import {
  AgentEvent,
  DefaultRequestHandler,
  InMemoryTaskStore,
  JsonRpcTransportHandler,
  ServerCallContext,
  UnauthenticatedUser,
  type AgentExecutor,
  type ExecutionEventBus,
  type RequestContext,
} from "@a2a-js/sdk/server";

/** A fetch that adds the bearer to every request the SDK makes (card and calls alike). */
export function bearerFetch(token: string): typeof fetch {
  return ((url: string | URL | Request, init: RequestInit = {}) => fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` } })) as typeof fetch;
}

/** An SDK client for the agent at `endpoint` (its /a2a/NAME URL), over the given binding; without a token it sends no credential. */
export async function sdkClient(endpoint: string, token: string | undefined, binding: "JSONRPC" | "HTTP+JSON" = "JSONRPC") {
  const fetchImpl = token === undefined ? fetch : bearerFetch(token);
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
      transports: [new JsonRpcTransportFactory({ fetchImpl }), new RestTransportFactory({ fetchImpl })],
      cardResolver: new DefaultAgentCardResolver({ fetchImpl }),
      preferredTransports: [binding],
    }),
  );
  // The SDK resolves the card path against the URL: the trailing slash keeps /a2a/NAME in it.
  return factory.createFromUrl(endpoint.replace(/\/?$/, "/"));
}

/** A user message with one text part, in the SDK's types. */
export function userText(text: string): Message {
  return {
    messageId: crypto.randomUUID(),
    contextId: "",
    taskId: "",
    role: Role.ROLE_USER,
    parts: [{ content: { $case: "text", value: text }, metadata: undefined, filename: "", mediaType: "text/plain" }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  };
}

export const textOf = (m: { parts: { content?: { $case: string; value: unknown } }[] } | undefined) =>
  (m?.parts ?? []).map((p) => (p.content?.$case === "text" ? p.content.value : "")).join("");

/** Shouts back what it is told; fails when told to fail; waits a while when told to wait. */
class Shouter implements AgentExecutor {
  readonly received: Message[] = [];
  private canceled = new Set<string>();

  async execute(ctx: RequestContext, bus: ExecutionEventBus): Promise<void> {
    const { taskId, contextId } = ctx;
    const text = textOf(ctx.userMessage);
    this.received.push(ctx.userMessage);
    const status = (state: TaskState, note?: string) =>
      bus.publish(
        AgentEvent.statusUpdate({
          taskId,
          contextId,
          status: {
            state,
            timestamp: new Date().toISOString(),
            message: note ? { ...userText(note), role: Role.ROLE_AGENT, taskId, contextId } : undefined,
          },
          metadata: undefined,
        }),
      );
    bus.publish(AgentEvent.task({ id: taskId, contextId, status: { state: TaskState.TASK_STATE_SUBMITTED, timestamp: new Date().toISOString(), message: undefined }, artifacts: [], history: [ctx.userMessage], metadata: undefined }));
    status(TaskState.TASK_STATE_WORKING, "shouting");
    if (text.includes("wait")) for (let i = 0; i < 100 && !this.canceled.has(taskId); i++) await Bun.sleep(50);
    if (this.canceled.has(taskId)) return status(TaskState.TASK_STATE_CANCELED);
    if (text.includes("fail")) return status(TaskState.TASK_STATE_FAILED, `cannot shout "${text}"`);
    bus.publish(
      AgentEvent.artifactUpdate({
        taskId,
        contextId,
        artifact: { artifactId: crypto.randomUUID(), name: "shout", description: "", parts: [{ content: { $case: "text", value: text.toUpperCase() }, metadata: undefined, filename: "", mediaType: "text/plain" }], metadata: undefined, extensions: [] },
        append: false,
        lastChunk: true,
        metadata: undefined,
      }),
    );
    status(TaskState.TASK_STATE_COMPLETED);
  }

  async cancelTask(taskId: string): Promise<void> {
    this.canceled.add(taskId);
  }
}

/** The SDK's own server (DefaultRequestHandler behind its JSON-RPC transport handler) on a loopback port, serving its card. */
export function startShouter() {
  const executor = new Shouter();
  let handler: JsonRpcTransportHandler;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/.well-known/agent-card.json") return Response.json(AgentCard.toJSON(card));
      if (req.method !== "POST" || url.pathname !== "/rpc") return new Response("not found", { status: 404 });
      const context = new ServerCallContext({ requestedVersion: req.headers.get("A2A-Version") ?? undefined, user: new UnauthenticatedUser() });
      const out = await handler.handle(await req.text(), context);
      if (out && typeof (out as AsyncGenerator)[Symbol.asyncIterator] === "function") return new Response("streaming is not used here", { status: 400 });
      return Response.json(out);
    },
  });
  const base = `http://127.0.0.1:${server.port}`;
  const card: AgentCard = {
    name: "Shouter Agent",
    description: "Repeats what it is told, louder.",
    supportedInterfaces: [{ url: `${base}/rpc`, protocolBinding: "JSONRPC", tenant: "", protocolVersion: "1.0" }],
    provider: undefined,
    version: "1.0.0",
    documentationUrl: undefined,
    capabilities: { streaming: false, pushNotifications: false, extensions: [], extendedAgentCard: false },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ["text/plain", "application/json"],
    defaultOutputModes: ["text/plain"],
    skills: [
      { id: "Shout", name: "Shout", description: "Says it louder", tags: ["voice"], examples: [], inputModes: [], outputModes: [], securityRequirements: [] },
      { id: "voice amplification", name: "Amplify", description: "Same thing", tags: [], examples: [], inputModes: [], outputModes: [], securityRequirements: [] },
    ],
    signatures: [],
    iconUrl: undefined,
  };
  handler = new JsonRpcTransportHandler(new DefaultRequestHandler(card, new InMemoryTaskStore(), executor));
  return { url: base, received: executor.received, stop: () => server.stop(true) };
}
