// The composition root's public surface: build a node from a config, in-process.
export { createNode } from './node.js'
export { storeFactory } from './store-factory.js'
export type { AnywhereNode, CreateNodeOptions } from './node.js'
export {
  CONFIG_FILE_DEFAULTS,
  defineConfig,
  loadConfigFile,
  mergeConfig,
  nodeConfigSchema,
  parseNodeConfig,
} from './config.js'
export type {
  FabricConfig,
  NodeConfig,
  NodeConfigInput,
  NodeConfigModule,
  StoreConfig,
} from './config.js'
export { LOG_FORMATS, pinoLogger, prettyLine, prettyStream } from './pino-logger.js'
export type { LogFormat, PinoLoggerInit } from './pino-logger.js'
