// Where a node's id (its log id, the start of its origin) comes from: kept next to its events,
// or made afresh on every start of a memory-store node.
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { writeFileDurably } from '../support/durable-file.js'
import { makeDirectory } from '../support/make-directory.js'

/** The node-id file is not secret: readable by every user (for tools), writable by the owner. */
const NODE_ID_FILE_MODE = 0o644

/**
 * The node id (its origin) kept next to its events: with the file store, inside the store's
 * own directory, so a log that is emptied or replaced (as the corruption error advises)
 * takes its id with it and the node writes under a fresh origin; a reused origin would
 * restart at seq 1, and peers that hold those seqs would drop the new events as known.
 * Written durably (temp file, fsync, link), so a crash on first start leaves a whole id or none.
 */
export async function persistentNodeId(file: string, geo: string): Promise<string> {
  const existing = await readNodeId(file)
  if (existing) return existing
  await makeDirectory(dirname(file))
  const id = `${geo}-${randomBytes(4).toString('hex')}`
  try {
    // Linked, not renamed, into place: fails if another start won the race (or a torn empty file is there).
    await writeFileDurably(file, id + '\n', { mode: NODE_ID_FILE_MODE, overwrite: false })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    const winner = await readNodeId(file)
    if (winner) return winner
    await writeFileDurably(file, id + '\n', { mode: NODE_ID_FILE_MODE }) // an empty file left by a crash: replace it
  }
  return (await readNodeId(file)) ?? id
}

async function readNodeId(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim() || undefined
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** A memory store forgets its events: a fresh origin per start keeps seqs from ever being reused. */
export function ephemeralNodeId(geo: string): string {
  return `${geo}-mem-${randomBytes(4).toString('hex')}`
}
