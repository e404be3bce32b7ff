/**
 * Writing to stdout and stderr. console.log is used rather than process.stdout.write: in a compiled
 * binary the first process.stdout.write costs ~12 ms of start-up, and every one-shot command prints.
 */
export function print(text: string) {
  console.log(text.endsWith("\n") ? text.slice(0, -1) : text);
}

export function printError(text: string) {
  console.error(text.endsWith("\n") ? text.slice(0, -1) : text);
}
