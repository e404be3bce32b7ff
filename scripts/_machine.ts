/** What a figure was measured on: printed with every benchmark so a number is never read without it. */
import { cpus, loadavg, totalmem } from "node:os";
import { readdirSync, readFileSync } from "node:fs";

export interface Machine {
  cpu: string;
  cores: number;
  ramGiB: number;
  bun: string;
  os: string;
  load: string;
}

export function describeMachine(): Machine {
  const list = cpus();
  return {
    cpu: (list[0]?.model ?? "unknown cpu").trim(),
    cores: list.length,
    ramGiB: totalmem() / 2 ** 30,
    bun: Bun.version,
    os: `${process.platform} ${process.arch}`,
    load: loadavg().map((l) => l.toFixed(2)).join(" "),
  };
}

export const machineLine = (m: Machine) =>
  `machine: ${m.cpu}, ${m.cores} cores, ${m.ramGiB.toFixed(1)} GiB RAM, ${m.os}; bun ${m.bun}; load avg ${m.load}`;

/** Busy CPU time of a process (user + system) in milliseconds, from /proc; NaN where there is no /proc. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which may contain spaces, start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/**
 * CPU time a process ran, all its threads, in microseconds, from the scheduler's account (/proc/PID/task/TID/schedstat,
 * in nanoseconds: finer than the 10 ms ticks of `cpuMsOf`, for work of a few milliseconds); NaN where there is none.
 */
export function cpuUsOf(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // The thread ended meanwhile.
      }
    }
    return ns / 1000;
  } catch {
    return NaN;
  }
}

/** Resident memory of a process in MiB, from /proc; NaN where there is no /proc. */
export function rssMiBOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

// USER_HZ is 100 on every Linux build that matters; sysconf is out of reach from JS.
const CLOCK_TICKS = 100;

/** CPU use of a process over a stretch of time, as a share of one core. */
export function cpuMeter(pid: number) {
  const cpu0 = cpuMsOf(pid);
  const t0 = performance.now();
  return () => (cpuMsOf(pid) - cpu0) / (performance.now() - t0);
}

/** The same for this process, which may not have /proc. */
export function selfCpuMeter() {
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const u = process.cpuUsage(u0);
    return (u.user + u.system) / 1000 / (performance.now() - t0);
  };
}

/** `relay 97% of a core` */
export const fmtCpu = (who: string, share: number) => (Number.isFinite(share) ? `${who} ${Math.round(share * 100)}%` : `${who} n/a`);

/** CPU time per operation in µs: unlike a rate, it holds when other work shares the cores. */
export const fmtCpuPerOp = (share: number, perSecond: number, unit: string) =>
  Number.isFinite(share) && perSecond > 0 ? `${((share * 1e6) / perSecond).toFixed(1)} µs CPU/${unit} (one busy core: ~${Math.round(perSecond / share).toLocaleString("en-US")}/s)` : `n/a µs CPU/${unit}`;
