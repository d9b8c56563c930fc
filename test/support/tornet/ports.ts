// Free loopback TCP ports, chosen at run time: bind port 0, note the port the
// kernel gave, release it. Another process may take a port before tor binds
// it; callers retry with fresh ports when tor reports "Address already in use"
// (see tor-process.ts).
import { createServer, type Server } from "node:net";

/** `count` distinct free ports on 127.0.0.1 (held open together, so they differ). */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      server.unref();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
      });
    }
    return servers.map((s) => {
      const address = s.address();
      if (typeof address !== "object" || !address) throw new Error("the kernel gave no port");
      return address.port;
    });
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}
