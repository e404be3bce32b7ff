/** Wiring clawlink into agents and shells: the skill, the MCP snippets, completion scripts. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { cleanup, runCli, tempHome } from "../_helpers";
import { MESSAGE_TYPES, PRIORITIES } from "../../src/protocol/schemas";

afterAll(cleanup);

const root = join(import.meta.dir, "..", "..");
const repoSkill = readFileSync(join(root, "SKILL.md"), "utf8");

describe("skill install", () => {
  test("--dir writes the SKILL.md built into the binary, of the same version, as clawlink/SKILL.md", async () => {
    const dir = tempHome();
    const path = join(dir, "clawlink", "SKILL.md");
    const r = await runCli(["skill", "install", "--dir", dir, "--json"]);
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ path, version: pkg.version, for: "openclaw", action: "installed" });
    expect(readFileSync(path, "utf8")).toBe(repoSkill);
    expect((await runCli(["skill", "install", "--dir", dir, "--json"])).json.action).toBe("unchanged");
    writeFileSync(path, "an older skill");
    const again = await runCli(["skill", "install", "--dir", dir]);
    expect(again.stderr).toBe(`updated the clawlink ${pkg.version} skill at ${path}\n`);
    expect(readFileSync(path, "utf8")).toBe(repoSkill);
  });

  test("--for picks each agent's own skills folder", async () => {
    const home = tempHome();
    const env = { HOME: home, OPENCLAW_STATE_DIR: "", CLAUDE_CONFIG_DIR: "" };
    const where = { openclaw: ".openclaw/skills", claude: ".claude/skills", codex: ".agents/skills" };
    for (const [agent, folder] of Object.entries(where)) {
      const r = await runCli(["skill", "install", "--for", agent, "--json"], { env });
      expect({ agent, code: r.code, path: r.json.path }).toEqual({ agent, code: 0, path: join(home, folder, "clawlink", "SKILL.md") });
    }
    const moved = await runCli(["skill", "install", "--for", "claude", "--json"], { env: { ...env, CLAUDE_CONFIG_DIR: join(home, "claude-config") } });
    expect(moved.json.path).toBe(join(home, "claude-config", "skills", "clawlink", "SKILL.md"));
  });

  test("a wrong agent or an unwritable folder is a usage error (exit 2)", async () => {
    const wrong = await runCli(["skill", "install", "--for", "gemini"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("Expected one of: openclaw, claude, codex");
    expect(wrong.stderr).toContain("hint: run `clawlink skill install --help` to see its options");
    const file = join(tempHome(), "a-file");
    writeFileSync(file, "");
    const blocked = await runCli(["skill", "install", "--dir", file, "--json"]);
    expect(blocked.code).toBe(2);
    expect(blocked.json.error.message).toBe(`cannot write ${join(file, "clawlink", "SKILL.md")}: ENOTDIR`);
    const bare = await runCli(["skill"]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain("error: clawlink skill needs a subcommand: install");
  });
});

describe("mcp-config", () => {
  const env = { CLAWLINK_RELAY: "http://10.0.0.5:9077", CLAWLINK_HOME: "/srv/agents/reviewer" };

  test("--for claude: the `claude mcp add` command (name before -e) and the .mcp.json entry", async () => {
    const r = await runCli(["mcp-config", "--for", "claude", "--as", "reviewer"], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      "claude mcp add clawlink --scope user -e CLAWLINK_HOME=/srv/agents/reviewer -e CLAWLINK_RELAY=http://10.0.0.5:9077 -- clawlink mcp --as reviewer\n",
    );
    const json = await runCli(["mcp-config", "--for", "claude", "--as", "reviewer", "--json"], { env });
    expect(json.json).toMatchObject({ for: "claude", name: "clawlink", command: "clawlink", args: ["mcp", "--as", "reviewer"], env: { CLAWLINK_RELAY: env.CLAWLINK_RELAY, CLAWLINK_HOME: env.CLAWLINK_HOME } });
    const file = json.json.snippets.find((s: any) => s.path === ".mcp.json");
    expect(JSON.parse(file.text)).toEqual({ mcpServers: { clawlink: { type: "stdio", command: "clawlink", args: ["mcp", "--as", "reviewer"], env: { CLAWLINK_HOME: env.CLAWLINK_HOME, CLAWLINK_RELAY: env.CLAWLINK_RELAY } } } });
  });

  test("--for codex: a [mcp_servers.clawlink] table that parses as TOML", async () => {
    const r = await runCli(["mcp-config", "--for", "codex", "--token", "t0k", "--json"]);
    expect(r.code).toBe(0);
    const file = r.json.snippets.find((s: any) => s.path === "~/.codex/config.toml");
    expect(Bun.TOML.parse(file.text)).toEqual({ mcp_servers: { clawlink: { command: "clawlink", args: ["mcp"], env: { CLAWLINK_TOKEN: "t0k" }, tool_timeout_sec: 600 } } });
    expect(r.stderr).toContain("note: the snippet holds the relay token");
  });

  test("--for cursor: .cursor/mcp.json, with no env when nothing was set", async () => {
    const r = await runCli(["mcp-config", "--for", "cursor", "--json"]);
    expect(r.json.snippets).toEqual([
      { kind: "file", path: ".cursor/mcp.json", what: "Cursor, in the project (or ~/.cursor/mcp.json for every project)", text: JSON.stringify({ mcpServers: { clawlink: { command: "clawlink", args: ["mcp"] } } }, null, 2) },
    ]);
  });

  test("without --for, or with another client, it is a usage error", async () => {
    expect((await runCli(["mcp-config"])).code).toBe(2);
    const other = await runCli(["mcp-config", "--for", "vscode"]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("Expected one of: claude, codex, cursor");
  });
});

describe("completion", () => {
  /** Loads the generated script into bash and asks it to complete `words` (the last one being typed). */
  async function complete(script: string, words: string[]): Promise<string[]> {
    const file = join(tempHome(), "clawlink.bash");
    writeFileSync(file, script);
    const quoted = words.map((w) => `'${w}'`).join(" ");
    const program = `source '${file}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _clawlink; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const proc = Bun.spawn(["bash", "--norc", "--noprofile", "-c", program], { stdout: "pipe", stderr: "pipe", cwd: root });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    return out.split("\n").filter(Boolean);
  }

  test("bash completes a command, a flag, an enum value and a file, from the command definitions", async () => {
    const r = await runCli(["completion", "bash"]);
    expect(r.code).toBe(0);
    expect(await complete(r.stdout, ["clawlink", "dele"])).toEqual(["delegate"]);
    expect(await complete(r.stdout, ["clawlink", "file-"])).toEqual(["file-put", "file-get", "file-list", "file-rm", "file-history", "file-lock", "file-unlock", "file-watch"]);
    expect(await complete(r.stdout, ["clawlink", "delegate", "--ti"])).toEqual(["--timeout"]);
    // A global flag's value before the command is skipped over, and subcommands nest.
    expect(await complete(r.stdout, ["clawlink", "--relay", "http://x", "delegate", "--idem"])).toEqual(["--idempotency-key"]);
    expect(await complete(r.stdout, ["clawlink", "skill", "install", "--for", ""])).toEqual(["openclaw", "claude", "codex"]);
    expect(await complete(r.stdout, ["clawlink", "completion", "p"])).toEqual(["powershell"]);
    expect(await complete(r.stdout, ["clawlink", "file-put", "--file", "package.j"])).toEqual(["package.json"]);
  });

  test("bash completes the values of --priority, --state and --type from the schemas' lists, after a space or an =", async () => {
    const r = await runCli(["completion", "bash"]);
    expect(await complete(r.stdout, ["clawlink", "delegate", "--priority", ""])).toEqual([...PRIORITIES]);
    expect(await complete(r.stdout, ["clawlink", "tasks", "--state", "c"])).toEqual(["completed", "canceled"]);
    expect(await complete(r.stdout, ["clawlink", "listen", "--type", ""])).toEqual([...MESSAGE_TYPES]);
    // With = in COMP_WORDBREAKS (bash's default) the word is split: --priority, =, the value.
    expect(await complete(r.stdout, ["clawlink", "delegate", "--priority", "=", ""])).toEqual([...PRIORITIES]);
    expect(await complete(r.stdout, ["clawlink", "delegate", "--priority", "=", "h"])).toEqual(["high"]);
    expect(await complete(r.stdout, ["clawlink", "delegate", "--priority", "="])).toEqual([...PRIORITIES]);
    // Without it, one word: the flag is kept in front of each value.
    expect(await complete(r.stdout, ["clawlink", "tasks", "--state=w"])).toEqual(["--state=working"]);
    // A value given with = is skipped when finding the command and the next flag.
    expect(await complete(r.stdout, ["clawlink", "delegate", "--priority", "=", "high", "--ti"])).toEqual(["--timeout"]);
  });

  test.skipIf(!Bun.which("zsh"))("zsh completes --flag=value with the flag's values", async () => {
    const file = join(tempHome(), "_clawlink");
    writeFileSync(file, (await runCli(["completion", "zsh"])).stdout);
    // Outside a completion widget, compadd and compset are stood in for: what matters is which words are offered.
    const program = `source '${file}' 2>/dev/null; compdef() { :; }; compset() { :; }; compadd() { [[ $1 == -- ]] && shift; print -rl -- "$@"; }; words=(clawlink delegate --priority=h); CURRENT=3; _clawlink`;
    const proc = Bun.spawn(["zsh", "-f", "-c", program], { stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(out.trim().split("\n")).toEqual([...PRIORITIES]);
  });

  test("every shell gets a script; an unknown shell is a usage error", async () => {
    for (const shell of ["zsh", "fish", "powershell"]) {
      const r = await runCli(["completion", shell]);
      expect({ shell, code: r.code }).toEqual({ shell, code: 0 });
      expect(r.stdout).toContain("delegate");
      expect(r.stdout).toContain("idempotency-key");
    }
    const bad = await runCli(["completion", "tcsh"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('error: no completion for the shell "tcsh"\nhint: pick one of bash, zsh, fish, powershell\n');
  });

  test.skipIf(!Bun.which("fish"))("fish completes a command and a flag", async () => {
    const file = join(tempHome(), "clawlink.fish");
    writeFileSync(file, (await runCli(["completion", "fish"])).stdout);
    const proc = Bun.spawn(["fish", "--no-config", "-c", `source '${file}'; complete -C 'clawlink dele'; complete -C 'clawlink delegate --ti'`], { stdout: "pipe", stderr: "pipe" });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    expect(out.split("\n").map((l) => l.split("\t")[0])).toEqual(["delegate", "--timeout", ""]);
  });

  test.skipIf(!Bun.which("zsh"))("the zsh script parses", async () => {
    const file = join(tempHome(), "_clawlink");
    writeFileSync(file, (await runCli(["completion", "zsh"])).stdout);
    const proc = Bun.spawn(["zsh", "-n", file], { stdout: "pipe", stderr: "pipe" });
    expect({ code: await proc.exited, err: await new Response(proc.stderr).text() }).toEqual({ code: 0, err: "" });
  });
});
