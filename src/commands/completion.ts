import type { CommandDef } from "citty";
import { defineCommand } from "./_args";
import { bashScript } from "../completion/bash";
import { fishScript } from "../completion/fish";
import { powershellScript } from "../completion/powershell";
import { commandTree } from "../completion/tree";
import { zshScript } from "../completion/zsh";
import { print } from "../output";
import { VERSION } from "../version";
import { reportError, usage } from "./_shared";

const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript, powershell: powershellScript } as const;

/** Built around the command table it completes, so the script lists exactly the commands and flags there are. */
export function completionCommand(root: CommandDef) {
  return Object.assign(
    defineCommand({
      meta: { name: "completion", description: "Print a shell completion script for clawlink's commands and flags (bash, zsh, fish or powershell)" },
      args: {
        shell: { type: "positional", description: "The shell to complete in", valueHint: Object.keys(SHELLS).join("|") },
      },
      async run({ args }) {
        const script = Object.hasOwn(SHELLS, args.shell ?? "") ? SHELLS[args.shell as keyof typeof SHELLS] : undefined;
        if (!script) {
          process.exitCode = reportError(usage(`no completion for the shell "${args.shell}"`, `pick one of ${Object.keys(SHELLS).join(", ")}`), false);
          return;
        }
        print(script(await commandTree(root), VERSION));
      },
    }),
    {
      examples: [
        "source <(clawlink completion bash)",
        "clawlink completion bash > ~/.local/share/bash-completion/completions/clawlink",
        'clawlink completion zsh > "${fpath[1]}/_clawlink"',
        "clawlink completion fish > ~/.config/fish/completions/clawlink.fish",
        "clawlink completion powershell | Out-String | Invoke-Expression",
      ],
    },
  );
}
