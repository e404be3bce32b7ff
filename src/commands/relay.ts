import { defineCommand, durationArg, numberArg, usage } from "./_args";
import { networkInterfaces } from "node:os";
import { formatDuration } from "../duration";
import { ClawlinkError, EXIT } from "../errors";
import { logger, logToStderr } from "../logger";
import { FSYNC_MODES, type Fsync } from "../relay/datafile";
import { loadKeyFile } from "../relay/keys";
import { isUnguessable } from "../relay/ratelimit";
import { DEFAULT_LIMITS } from "../relay/limits";
import { keepFreedMemory } from "../relay/allocator";
import { startRelay } from "../relay/server";
import { readTokenFile } from "../token-file";
import type { Store } from "../relay/store/port";
import { certificateWarnings, loadTls } from "../relay/tls";
import { VERSION } from "../version";
import type { Bus } from "../relay/bus/port";
import type { Peers } from "../relay/store/redis/peers";
import { redactUrl, type RedisStore } from "../relay/store/redis/store";

/** A relay that will not start says why and what to do, all of it on stderr: stdout is for a relay that runs. */
function refuse(message: string, hint?: string) {
  logToStderr();
  logger.error(message);
  if (hint) logger.info(hint);
}

/** What relays sharing one Redis use: its store, its bus, and the list of relays up. */
interface Shared {
  store: RedisStore;
  bus: Bus;
  peers: Peers;
}

/** Connects to Redis (loading the store's scripts), joins the team there (its token must be this relay's) and subscribes the bus; rejects with why it cannot. */
async function openShared(url: string, prefix: string, token: string | undefined): Promise<Shared> {
  const [{ RedisStore }, { RedisBus }, { Peers }, { Team }] = await Promise.all([
    import("../relay/store/redis/store"),
    import("../relay/bus/redis"),
    import("../relay/store/redis/peers"),
    import("../relay/store/redis/team"),
  ]);
  const store = new RedisStore(url, { prefix });
  try {
    await store.open();
    const team = new Team(store, prefix, token);
    await team.join();
    const bus = await new RedisBus(url, prefix).open();
    store.publishAs(bus.origin);
    return { store, bus, peers: new Peers(store, prefix, team) };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** A whole-number flag; an empty value leaves the relay's default. */
const num = (s: string | undefined, flag: string, min: number) => (s === undefined || s === "" ? undefined : numberArg(s, flag, { min }));

/** Only literal loopback addresses: a name such as 127.example.com may resolve anywhere. */
const isLoopback = (host: string) => host === "localhost" || host === "::1" || /^127(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(host);

/** `--token-file`, `--admin-token-file`: the token without its trailing newline, so it stays out of the process list. */
function tokenFromFile(path: string, flag: string): string {
  const { token, shared } = readTokenFile(path, flag);
  if (shared) logger.warn(`${flag} ${path} is readable by other users; \`chmod 600 ${path}\` keeps the token yours`);
  return token;
}

/** Every address agents on other machines can use when the relay binds all interfaces. */
function lanUrls(scheme: string, port: number): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      out.push(a.family === "IPv6" ? `${scheme}://[${a.address}]:${port}` : `${scheme}://${a.address}:${port}`);
    }
  }
  return out;
}

export default Object.assign(defineCommand({
  meta: { name: "relay", description: "Run the relay that agents register with (in memory, nothing on disk, unless --data PATH keeps it in a file or --redis URL shares it with other relays)" },
  args: {
    host: { type: "string", description: "Address to bind; 0.0.0.0 for every interface (needs --token)", default: "127.0.0.1" },
    port: { type: "string", description: "Port to listen on (0 picks a free one)", default: "9077" },
    token: { type: "string", description: "Token agents must present (env CLAWLINK_TOKEN; on the command line every local user can read it); it also opens the dashboard unless --admin-token is set" },
    "token-file": { type: "string", description: "Read the token from this file instead", valueHint: "path" },
    "admin-token": { type: "string", description: "Token that opens the dashboard and admin API instead of --token, and lets no agent join (env CLAWLINK_ADMIN_TOKEN)" },
    "admin-token-file": { type: "string", description: "Read the admin token from this file instead", valueHint: "path" },
    insecure: { type: "boolean", description: "Allow a non-loopback bind without a token" },
    data: { type: "string", description: "Keep everything in this SQLite file so a restart loses nothing (default: memory only, nothing on disk)", valueHint: "path" },
    redis: { type: "string", description: "Keep everything in this Redis (or Valkey) server, shared with every relay started on it: agents may use any of them (env CLAWLINK_REDIS; rediss:// for TLS)", valueHint: "redis://[user:password@]host:6379[/db]" },
    "redis-prefix": { type: "string", description: "With --redis: the prefix of every key, so several teams can share one server", default: "clawlink:" },
    "key-file": { type: "string", description: "Derive agents' secrets and name claims from the key in this file (created 0600 if missing; an existing one must be random, 32+ bytes, mode 0600: `openssl rand -hex 32 > key && chmod 600 key`), so an in-memory relay recognises its agents, and their names, after a restart", valueHint: "path" },
    "holder-grace": { type: "string", description: "How long a task's holder may be gone (its socket closed, no sign of life) before its unfinished tasks go to another capable agent or wait for it", default: "15s", valueHint: "duration" },
    "forget-after": { type: "string", description: "Forget an agent stale this long with nothing queued, in flight or held", default: "24h", valueHint: "duration" },
    fsync: { type: "string", description: "With --data: normal (default) survives the relay's process dying, not the machine; always waits for the disk on each commit", valueHint: "normal|always" },
    "tls-cert": { type: "string", description: "Serve HTTPS and WSS with this PEM certificate chain (with --tls-key)", valueHint: "pem" },
    "tls-key": { type: "string", description: "The PEM private key of --tls-cert", valueHint: "pem" },
    "max-queue": { type: "string", description: "Messages waiting per agent (queued or unacknowledged) before senders get 429", default: String(DEFAULT_LIMITS.maxQueue) },
    "max-queued-bytes": { type: "string", description: "Bytes of all messages waiting or unacknowledged before senders get 429", default: String(DEFAULT_LIMITS.maxQueuedBytes) },
    "max-sender-bytes": { type: "string", description: "Bytes of one agent's messages waiting or unacknowledged, and of its unfinished tasks, before it gets 429", default: String(DEFAULT_LIMITS.maxSenderBytes) },
    "max-recipient-bytes": { type: "string", description: "Bytes of the messages waiting or unacknowledged for one agent before its senders get 429", default: String(DEFAULT_LIMITS.maxRecipientBytes) },
    "message-ttl": { type: "string", description: "Drop a message left unread this long (a task expires, and its sender hears so)", default: formatDuration(DEFAULT_LIMITS.messageTtlMs), valueHint: "duration" },
    "task-retention": { type: "string", description: "How long finished tasks are kept (90s, 30m, 24h, 7d)", default: formatDuration(DEFAULT_LIMITS.taskRetentionMs) },
    "max-finished-tasks": { type: "string", description: "Finished tasks kept at most; the oldest finished are forgotten first", default: String(DEFAULT_LIMITS.maxFinishedTasks) },
    "max-finished-bytes": { type: "string", description: "Bytes of finished tasks (text, context, result) kept at most; the oldest finished are forgotten first", default: String(DEFAULT_LIMITS.maxFinishedBytes) },
    "max-agents": { type: "string", description: "Agents the relay holds at most (more get 429)", default: String(DEFAULT_LIMITS.maxAgents) },
    "max-message-bytes": { type: "string", description: "Largest JSON request body (a message); larger get 413", default: String(DEFAULT_LIMITS.maxMessageBytes) },
    "max-file-bytes": { type: "string", description: "Largest shared file; larger get 413", default: String(DEFAULT_LIMITS.maxFileBytes) },
    "max-total-file-bytes": { type: "string", description: "All shared files together; past it uploads get 413", default: String(DEFAULT_LIMITS.maxTotalFileBytes) },
    "min-upload-rate": { type: "string", description: "Bytes a second a file upload must arrive at, on average, after its first 10 s; slower ones get 408", default: String(DEFAULT_LIMITS.minUploadRate) },
    "max-file-versions": { type: "string", description: "Versions kept per shared file; older ones are dropped", default: String(DEFAULT_LIMITS.maxFileVersions) },
    "max-frame-bytes": { type: "string", description: "Largest WebSocket frame from an agent (default: --max-message-bytes + 16384)", valueHint: "bytes" },
    "max-auth-failures": { type: "string", description: "Failed authentications per client address and claimed identity per minute before 429 (all --redis relays together)", default: String(DEFAULT_LIMITS.maxAuthFailures) },
    "max-registrations": { type: "string", description: "Registrations of new agents per client address per minute before 429 (all --redis relays together)", default: String(DEFAULT_LIMITS.maxRegistrations) },
    "max-connections-per-agent": { type: "string", description: "Connections one agent may hold open (WebSockets, long polls, A2A streams and blocking sends), on all --redis relays together; more get 429", default: String(DEFAULT_LIMITS.maxConnectionsPerAgent) },
    "max-connections-per-address": { type: "string", description: "Connections held open from one client address by this relay process (each agent may still hold 4); more get 429", default: String(DEFAULT_LIMITS.maxConnectionsPerAddress) },
    "max-connections": { type: "string", description: "Connections held open by this relay process; more get 503 (keep it under `ulimit -n`)", default: String(DEFAULT_LIMITS.maxConnections) },
    "allow-host": { type: "string", description: "Host names a relay without a token (or on loopback) answers to besides its own addresses, host name and loopback names, comma-separated (a DNS name, or a proxy that passes its own)", valueHint: "names" },
  },
  async run({ args }) {
    // Before anything is opened: on Linux the relay may start itself again in place with its allocator setting.
    keepFreedMemory();
    let port: number;
    let limits;
    let tls;
    let forgetAfterMs: number;
    let holderGraceMs: number;
    let key;
    let token: string | undefined;
    let adminToken: string | undefined;
    let fsync: Fsync | undefined;
    let redisUrl: string | undefined;
    try {
      port = numberArg(args.port, "--port", { min: 0, max: 65_535 });
      limits = {
        maxQueue: num(args["max-queue"], "--max-queue", 1),
        maxQueuedBytes: num(args["max-queued-bytes"], "--max-queued-bytes", 1024),
        maxSenderBytes: num(args["max-sender-bytes"], "--max-sender-bytes", 1024),
        maxRecipientBytes: num(args["max-recipient-bytes"], "--max-recipient-bytes", 1024),
        messageTtlMs: durationArg(args["message-ttl"], "--message-ttl"),
        taskRetentionMs: durationArg(args["task-retention"], "--task-retention"),
        maxFinishedTasks: num(args["max-finished-tasks"], "--max-finished-tasks", 1),
        maxFinishedBytes: num(args["max-finished-bytes"], "--max-finished-bytes", 1024),
        maxAgents: num(args["max-agents"], "--max-agents", 1),
        maxMessageBytes: num(args["max-message-bytes"], "--max-message-bytes", 1024),
        maxFileBytes: num(args["max-file-bytes"], "--max-file-bytes", 1),
        maxTotalFileBytes: num(args["max-total-file-bytes"], "--max-total-file-bytes", 1),
        maxFileVersions: num(args["max-file-versions"], "--max-file-versions", 1),
        minUploadRate: num(args["min-upload-rate"], "--min-upload-rate", 1),
        maxFrameBytes: num(args["max-frame-bytes"], "--max-frame-bytes", 1024),
        maxAuthFailures: num(args["max-auth-failures"], "--max-auth-failures", 1),
        maxRegistrations: num(args["max-registrations"], "--max-registrations", 1),
        maxConnectionsPerAgent: num(args["max-connections-per-agent"], "--max-connections-per-agent", 1),
        maxConnectionsPerAddress: num(args["max-connections-per-address"], "--max-connections-per-address", 1),
        maxConnections: num(args["max-connections"], "--max-connections", 1),
      };
      forgetAfterMs = durationArg(args["forget-after"], "--forget-after");
      holderGraceMs = durationArg(args["holder-grace"], "--holder-grace");
      tls = loadTls(args["tls-cert"], args["tls-key"]);
      key = args["key-file"] === undefined ? undefined : loadKeyFile(args["key-file"]);
      if (args.token && args["token-file"]) throw usage("pass --token or --token-file, not both", "--token-file keeps the token out of the process list");
      token = args.token || (args["token-file"] !== undefined ? tokenFromFile(args["token-file"], "--token-file") : process.env.CLAWLINK_TOKEN) || undefined;
      if (args["admin-token"] && args["admin-token-file"]) throw usage("pass --admin-token or --admin-token-file, not both", "--admin-token-file keeps the token out of the process list");
      adminToken =
        args["admin-token"] || (args["admin-token-file"] !== undefined ? tokenFromFile(args["admin-token-file"], "--admin-token-file") : process.env.CLAWLINK_ADMIN_TOKEN) || undefined;
      redisUrl = args.redis || process.env.CLAWLINK_REDIS || undefined;
      if (redisUrl !== undefined) {
        if (args.data !== undefined) throw usage("pass --data or --redis, not both", "--data keeps one relay's state in a file; --redis shares it between relays");
        if (!/^rediss?:\/\/[^/]/.test(redisUrl)) throw usage(`--redis must be a URL such as redis://host:6379 or rediss://host:6380, not "${redisUrl}"`, "rediss:// connects with TLS; add user:password@ before the host if the server asks for them");
      } else if (args["redis-prefix"] !== "clawlink:") throw usage("--redis-prefix goes with --redis", "pass --redis URL (or set CLAWLINK_REDIS)");
      if (!args["redis-prefix"]) throw usage("--redis-prefix cannot be empty", "keys need a prefix of their own, such as team-a:");
      if (args.data === "") throw usage("--data needs the path of a file", "pass --data PATH (it is created if missing), or leave --data out to keep everything in memory");
      if (args.fsync !== undefined) {
        if (args.data === undefined) throw usage("--fsync goes with --data", "pass --data PATH to keep state on disk");
        if (!FSYNC_MODES.includes(args.fsync as Fsync)) throw usage(`--fsync must be normal or always, not "${args.fsync}"`, "always survives a power cut, at the cost of waiting for the disk on each commit");
        fsync = args.fsync as Fsync;
      }
    } catch (err) {
      refuse((err as Error).message, err instanceof ClawlinkError ? err.hint : undefined);
      process.exitCode = EXIT.usage;
      return;
    }
    const host = args.host;
    if (!isLoopback(host) && !token && !args.insecure) {
      refuse(`refusing to bind ${host} without a token: anyone on the network could register agents (and through them send tasks and write shared files), list the agents and read the shared files; each agent's own inbox and actions still need its secret`, "start with --token-file PATH (or CLAWLINK_TOKEN) and give agents the same token; add --tls-cert/--tls-key so it never crosses the network in clear; or pass --insecure to accept the risk");
      process.exitCode = EXIT.usage;
      return;
    }
    if (args.token) logger.warn("--token is visible to every user of this machine in the process list; prefer CLAWLINK_TOKEN or --token-file");
    if (token && !isUnguessable(token)) {
      logger.warn("the token is shorter than 32 characters (or repeats a few): once someone fails --max-auth-failures times from an address, even the right token waits a minute there; a long random one (`openssl rand -hex 16`) is never held back");
    }
    if (args["admin-token"]) logger.warn("--admin-token is visible to every user of this machine in the process list; prefer CLAWLINK_ADMIN_TOKEN or --admin-token-file");
    if (tls) for (const warning of certificateWarnings(tls.cert)) logger.warn(warning);
    let store: Store | undefined;
    let shared: Shared | undefined;
    if (redisUrl !== undefined) {
      try {
        shared = await openShared(redisUrl, args["redis-prefix"], token);
        store = shared.store;
      } catch (err) {
        if (err instanceof ClawlinkError && err.code === "bad_config") {
          refuse(err.message, err.hint);
          process.exitCode = EXIT.usage;
          return;
        }
        const why = err instanceof ClawlinkError ? undefined : await (await import("../relay/store/redis/diagnose")).diagnose(redisUrl);
        refuse(
          `cannot use the Redis server at ${redactUrl(redisUrl)}: ${why?.message ?? (err as Error).message}`,
          why?.hint ?? ((err instanceof ClawlinkError && err.hint) || "is redis-server (or Valkey) running there? check the host, the port, the password and rediss:// for TLS"),
        );
        process.exitCode = EXIT.error;
        return;
      }
    }
    if (args.data !== undefined) {
      try {
        const sqlite = new (await import("../relay/store/sqlite")).SqliteStore(args.data, { fsync });
        for (const note of sqlite.notes) logger.warn(note);
        store = sqlite;
      } catch (err) {
        refuse((err as Error).message, err instanceof ClawlinkError ? err.hint : undefined);
        process.exitCode = EXIT.error;
        return;
      }
    }
    let relay;
    try {
      relay = startRelay({
        store,
        bus: shared?.bus,
        peers: shared?.peers,
        host,
        port,
        token,
        adminToken,
        tls,
        allowHosts: args["allow-host"]?.split(",").map((h) => h.trim()).filter(Boolean),
        version: VERSION,
        secretKey: key?.key,
        forgetAfterMs,
        holderGraceMs,
        ...limits,
        onError: (err) => logger.error("unexpected error:", err),
        onStoreHealth: (err) => {
          if (shared) {
            if (err) logger.error(`lost the Redis server at ${redactUrl(redisUrl!)}: requests are refused with 503 ${err.code} until it is back; reconnecting`);
            else logger.success(`the Redis server at ${redactUrl(redisUrl!)} is back`);
            return;
          }
          if (err) logger.error(`cannot write ${args.data} (${err.code}): requests that change anything are refused with ${err.status} and leave no trace until a write succeeds; ${err.status === 507 ? "free space on its disk" : "check the file and its disk"}`);
          else logger.success(`writing ${args.data} works again`);
        },
      });
    } catch (err) {
      await store?.close();
      await shared?.bus.close();
      const e = err as Error & { code?: string };
      refuse(e.code === "EADDRINUSE" ? `port ${port} on ${host} is already in use` : `cannot start the relay: ${e.message}`, e.code === "EADDRINUSE" ? "is a relay already running? pick another with --port" : "check --host and --port");
      process.exitCode = EXIT.error;
      return;
    }
    shared?.peers.onEmptied(() =>
      logger.error(
        `the Redis server at ${redactUrl(redisUrl!)} lost this team's keys (it restarted without persistence, or was flushed): agents register again, and every task and message not yet finished is gone; run Redis with appendonly yes to keep them`,
      ),
    );
    // Trap signals before printing the URL: whoever waits for that line may signal at once.
    const stopped = new Promise<void>((resolve) => {
      const stop = async (why: string, code: number, before?: () => Promise<void>) => {
        logger.info(`${why}: stopping`);
        await relay.stop(before).catch((err) => logger.error("while stopping:", err));
        process.exitCode = code; // a requested stop is a clean one, whichever signal asked
        resolve();
      };
      process.once("SIGINT", () => stop("SIGINT", 0));
      process.once("SIGTERM", () => stop("SIGTERM", 0));
      shared?.peers.onRefused((err, since) => {
        refuse(`this relay no longer belongs to the team on ${redactUrl(redisUrl!)}: the store was emptied, this relay wrote the team's marker again with its token, and the relays that were running took it back; ${err.message}`, err.hint);
        // The agents it let in joined without the team's token: they leave with it.
        void stop("left the team", EXIT.usage, since === undefined ? undefined : () => relay.core.unregisterCreated(since));
      });
    });
    const actualPort = relay.server.port!;
    const scheme = tls ? "https" : "http";
    const urls = host === "0.0.0.0" || host === "::" ? [`${scheme}://127.0.0.1:${actualPort}`, ...lanUrls(scheme, actualPort)] : [relay.url];
    // Heartbeating before the URL is printed: whoever reads the URL finds this relay counted.
    if (shared) await shared.peers.start(relay.core.instance, relay.url).catch((err) => logger.warn(`cannot announce this relay in Redis: ${(err as Error).message}`));
    const where = shared ? `, sharing state in Redis at ${redactUrl(redisUrl!)} (prefix ${args["redis-prefix"]})` : args.data ? `, keeping state in ${args.data}` : ", in memory";
    logger.success(`clawlink relay ${VERSION} listening${tls ? " with TLS" : ""}${token ? " (token required)" : ""}${where}`);
    if (key?.created) logger.info(`created the relay key ${args["key-file"]}: agents' secrets derive from it, so keep it private and keep it`);
    if (!isLoopback(host) && !tls) logger.warn("without --tls-cert/--tls-key, the token and agents' secrets cross the network in clear text");
    for (const u of urls) logger.log(`  ${u}`);
    // On Redis, agents are given every relay up (this one first), so they fail over to the others.
    const others = shared ? (await shared.peers.list().catch(() => [])).filter((p) => !p.startsWith(`${relay.core.instance} `)) : [];
    const team = [urls[urls.length - 1], ...others.map((p) => p.split(" ")[1]).filter(Boolean)].join(",");
    logger.log(`agents connect with: CLAWLINK_RELAY=${team}${token ? " CLAWLINK_TOKEN=…" : ""} clawlink register --name NAME`);
    if (adminToken || token || isLoopback(host)) logger.log(`dashboard: ${urls[0]}/${adminToken ? " (asks for the admin token)" : token ? " (asks for the token)" : ""}`);
    else logger.log("dashboard: closed, since the relay has no token; start it with --admin-token to open it");
    // After this relay's own URLs: whoever reads the first URL printed reads this relay's.
    if (shared) {
      logger.info(others.length ? `relays on the same Redis: ${others.join(", ")}` : "the first relay on this Redis and prefix");
    }

    await stopped;
  },
}), {
  longRunning: true,
  examples: [
    "clawlink relay",
    "(umask 077; openssl rand -hex 16 > relay.token) && clawlink relay --host 0.0.0.0 --token-file relay.token",
    "clawlink relay --host 0.0.0.0 --token-file relay.token --tls-cert relay.pem --tls-key relay.key",
    "clawlink relay --data ~/.clawlink/relay.db",
    "clawlink relay --redis redis://127.0.0.1:6379 --port 9077   # and more relays on the same Redis",
  ],
});
