// Root hooks: whatever a failed test left running is stopped before mocha exits.
import { stopAllNodeProcesses } from './node-process.js'

export const mochaHooks = {
  async afterAll(): Promise<void> {
    await stopAllNodeProcesses()
  },
}
