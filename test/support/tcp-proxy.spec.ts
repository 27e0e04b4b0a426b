import assert from 'node:assert/strict'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { poll } from './multi-geo.js'
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js'

describe('test support: TCP proxy one-way cuts', function () {
  this.timeout(10_000)
  let server: Server
  let proxy: TcpProxy
  let client: Socket
  let accepted: Socket | undefined
  let atServer = ''
  let atClient = ''

  beforeEach(async () => {
    atServer = ''
    atClient = ''
    server = createServer((socket) => {
      accepted = socket
      socket.on('data', (d: Buffer) => (atServer += d.toString()))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    proxy = await startTcpProxy({ targetPort: (server.address() as { port: number }).port })
    client = connect(proxy.port, '127.0.0.1')
    client.on('data', (d: Buffer) => (atClient += d.toString()))
    await poll('connected through the proxy', () => accepted !== undefined, 5_000, 10)
  })

  afterEach(async () => {
    client.destroy()
    accepted?.destroy()
    accepted = undefined
    await proxy.close()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('holds one direction while the other flows, and delivers the held bytes on restore', async () => {
    proxy.cutDirection('toTarget')
    client.write('up')
    accepted!.write('down')
    await poll('the reply reaches the client', () => atClient === 'down', 5_000, 10)
    assert.equal(atServer, '', 'nothing reaches the target while cut one way')
    proxy.restore()
    await poll('the held bytes arrive', () => atServer === 'up', 5_000, 10)
  })

  it('cuts the other direction too', async () => {
    proxy.cutDirection('toClient')
    accepted!.write('down')
    client.write('up')
    await poll('the request reaches the target', () => atServer === 'up', 5_000, 10)
    assert.equal(atClient, '')
    proxy.restore()
    await poll('the held reply arrives', () => atClient === 'down', 5_000, 10)
  })
})
