/**
 * The wire contract: every request body, response body and WebSocket frame, one file per idea in schemas/.
 * Relay and client both import them from here; every type is inferred from them. A few primitives are built at
 * once; the rest are `Deferred`, built on first use, so a one-shot command builds only what it parses with.
 */
export * from "./schemas/primitives";
export * from "./schemas/agents";
export * from "./schemas/messages";
export * from "./schemas/sending";
export * from "./schemas/tasks";
export * from "./schemas/files";
export * from "./schemas/frames";
