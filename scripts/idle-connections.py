#!/usr/bin/env python3
# Slowloris check for the proxy: holds N idle connections open, then times
# requests through it.  Usage: idle-connections.py PROXY_PORT N URL
# (scripts/bench-idle.sh runs it against a fresh `tutela serve`.)
import asyncio, resource, subprocess, sys, time
proxy_port, n, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1000, n + 1000))
async def main():
    conns = []
    for i in range(n):
        r, w = await asyncio.open_connection("127.0.0.1", proxy_port)
        w.write(b"GET http://allowed.example/ HTTP/1.1\r\n")
        conns.append((r, w))
    await asyncio.sleep(1)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", f"http://127.0.0.1:{proxy_port}", url], capture_output=True, text=True)
        times.append((time.perf_counter() - t0) * 1000)
        assert out.stdout == "200", out.stdout
    open_now = sum(1 for r, w in conns if not r.at_eof())
    times.sort()
    print(f"{n} idle connections held open ({open_now} still open after the requests); 20 requests via curl: median {times[10]:.1f} ms, max {times[-1]:.1f} ms")
asyncio.run(main())
