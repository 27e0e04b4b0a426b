// `anywhere-node redis-copy`: moves a geo's keys between one Redis and a Redis Cluster.
import type { Command } from 'commander'
import { parseClusterFlag } from './start-flags.js'

interface RedisCopyFlags {
  prefix: string
  fromUrl?: string
  fromCluster?: string
  toUrl?: string
  toCluster?: string
}

/** Adds the `redis-copy` command to the CLI; `done` receives its exit code. */
export function registerRedisCopyCommand(
  program: Command,
  done: (exitCode: number) => void,
  reportFatal: (error: unknown) => number,
): void {
  program
    .command('redis-copy')
    .description(
      "copy a geo's keys between one Redis and a Redis Cluster, renamed into the target's key layout (stop the geo's nodes first; docs/redis.md)",
    )
    .requiredOption('--prefix <prefix>', "the geo's key prefix (the store's prefix)")
    .option('--from-url <url>', 'copy from this one Redis')
    .option('--from-cluster <nodes>', 'copy from this Redis Cluster (host:port,...)')
    .option('--to-url <url>', 'copy to this one Redis')
    .option('--to-cluster <nodes>', 'copy to this Redis Cluster (host:port,...)')
    .action(async (flags: RedisCopyFlags) => {
      try {
        // Loaded only for this command: a node on the file store never loads ioredis.
        const { copyPrefix } = await import('../stores/redis/index.js')
        const copied = await copyPrefix({
          prefix: flags.prefix,
          from: side(flags.fromUrl, flags.fromCluster),
          to: side(flags.toUrl, flags.toCluster),
        })
        console.log(`copied ${copied} keys under prefix '${flags.prefix}'`)
        done(0)
      } catch (error) {
        done(reportFatal(error))
      }
    })
}

/** One side of the copy as the store's init takes it (the schema checks exactly one). */
function side(url: string | undefined, cluster: string | undefined) {
  return {
    ...(url === undefined ? {} : { url }),
    ...(cluster === undefined ? {} : { cluster: parseClusterFlag(cluster) }),
  }
}
