// The one line printed under commander's own error line (an unknown option, a bad value, a
// missing argument): the nearest option when one is close, and where the options are listed.
import type { Command } from 'commander'
import { nearest } from './suggest.js'

/** The command that `argv` runs: its subcommand words, else `defaultName` (commander's default command). */
export function commandOf(program: Command, argv: readonly string[], defaultName: string): Command {
  let command = program
  for (const word of argv.slice(2)) {
    const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word))
    if (!sub) break
    command = sub
  }
  if (command !== program) return command
  return program.commands.find((c) => c.name() === defaultName) ?? program
}

/** `anywhere-node token hash`: the words that run `command`. */
function pathOf(command: Command): string {
  const words: string[] = []
  for (let c: Command | null = command; c; c = c.parent) words.unshift(c.name())
  return words.join(' ')
}

/** The long options `command` takes, its parents' included (--debug, --version, --help). */
function longOptionsOf(command: Command): string[] {
  const names = new Set<string>(['--help'])
  for (let c: Command | null = command; c; c = c.parent)
    for (const option of c.options) if (option.long) names.add(option.long)
  return [...names]
}

/**
 * The hint under commander's error `message` (thrown by the command that `argv` runs): one line,
 * naming the nearest option for an unknown one, or the command that does take it.
 */
export function usageHint(
  program: Command,
  argv: readonly string[],
  message: string,
  defaultName = 'start',
): string {
  const command = commandOf(program, argv, defaultName)
  const help = `${pathOf(command)} --help lists its options`
  const unknown = /unknown option '([^']+)'/.exec(message)?.[1]?.split('=')[0]
  if (unknown === undefined || !unknown.startsWith('--')) return `(${help})`
  const options = longOptionsOf(command)
  const match = nearest(unknown, options)
  if (match !== undefined) return `did you mean ${match}? (${help})`
  // `dev --port`: the options that end like it (--http-port, --control-port).
  const alike = options.filter((o) => o.endsWith(`-${unknown.slice(2)}`))
  if (alike.length > 0) return `did you mean ${alike.join(' or ')}? (${help})`
  const owner = program.commands.find(
    (c) => c !== command && c.options.some((o) => o.long === unknown),
  )
  if (owner)
    return `${unknown} is an option of '${pathOf(owner)}', not of '${command.name()}' (${help})`
  return `(${help})`
}
