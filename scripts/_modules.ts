/** What each command loads: the chunks of a split build that its start reaches, and the source modules in them. */
import { join } from "node:path";
import { root } from "./_targets";

export interface Load {
  command: string;
  chunks: number;
  /** Source modules bundled into those chunks (ours and our dependencies'). */
  modules: string[];
  /** Bytes of minified JavaScript. */
  bytes: number;
}

interface Output {
  bytes: number;
  entryPoint?: string;
  inputs: Record<string, { bytesInOutput: number }>;
  imports: { path: string; kind: string }[];
}

/**
 * Builds src/cli.ts the way the release does (split, minified) and follows, for each subcommand, the
 * static imports from the entry and from the command's own chunk: what starting that command evaluates.
 */
export async function commandLoads(): Promise<Load[]> {
  const built = await Bun.build({ entrypoints: [join(root, "src", "cli.ts")], splitting: true, minify: true, format: "esm", target: "bun", metafile: true } as Bun.BuildConfig);
  if (!built.success) throw new Error(`building src/cli.ts failed: ${built.logs.join("\n")}`);
  const outputs = (built as unknown as { metafile: { outputs: Record<string, Output> } }).metafile.outputs;
  const chunkOf = (source: string) => Object.keys(outputs).find((k) => outputs[k]!.entryPoint === source && k.endsWith(".js"));
  const reach = (from: string[]) => {
    const seen = new Set<string>();
    const walk = (k: string) => {
      if (seen.has(k)) return;
      seen.add(k);
      for (const i of outputs[k]!.imports) if (i.kind === "import-statement") walk(i.path);
    };
    from.forEach(walk);
    return seen;
  };
  const describe = (command: string, chunks: Set<string>): Load => ({
    command,
    chunks: chunks.size,
    modules: [...chunks].flatMap((k) => Object.keys(outputs[k]!.inputs)).map((m) => m.replace(/^(\.\.\/)*(main\/)?node_modules\//, "node_modules/")),
    bytes: [...chunks].reduce((sum, k) => sum + outputs[k]!.bytes, 0),
  });
  const entry = chunkOf("src/cli.ts")!;
  const loads = [describe("--version", reach([entry]))];
  for (const k of Object.keys(outputs)) {
    const source = outputs[k]!.entryPoint;
    const m = source && /^src\/commands\/([a-z0-9-]+)\.ts$/.exec(source);
    if (m && k.endsWith(".js") && !m[1]!.startsWith("_")) loads.push(describe(m[1]!, reach([entry, k])));
  }
  return loads;
}

/** Code a one-shot command has no use for: the relay, the MCP SDK, A2A, the dashboard. */
export const HEAVY = [/^src\/relay\//, /^src\/mcp\//, /^src\/dashboard\//, /a2a/i, /@modelcontextprotocol/];

export const heavyIn = (load: Load) => load.modules.filter((m) => HEAVY.some((re) => re.test(m)));
