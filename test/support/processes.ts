// The process table, read from /proc: for tests that must prove they left nothing running.
import { readdir, readFile } from 'node:fs/promises'

/** Live processes (not zombies) whose command line contains `text`; this process excluded. */
export async function processesWith(text: string): Promise<Array<{ pid: number; ppid: number }>> {
  const found: Array<{ pid: number; ppid: number }> = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ')
      if (!cmdline.includes(text)) continue
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8')
      // The fields after the command (which may hold spaces): state, ppid, ...
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (state !== 'Z') found.push({ pid: Number(entry), ppid: Number(ppid) })
    } catch {
      // The process exited while we read.
    }
  }
  return found
}
