#!/bin/sh
# Start-up of the bundled sender next to `node -e 0`, measured in the same
# hyperfine run (docs/benchmarks.md, "sender start-up"). The sender posts to
# a local node:http stand-in answering 200 `ok`, so the numbers are the
# sender's own cost: node start, bundle load, one loopback request.
# Needs: hyperfine, a built bundle (pnpm --filter @pushgate/sender bundle).
set -eu
cd "$(dirname "$0")/.."
BIN=packages/sender/dist/send_push_notification.mjs
RUNS=${RUNS:-60}
PORTFILE=$(mktemp)
node -e '
  const s = require("node:http").createServer((q, r) => { q.resume(); q.on("end", () => r.end("ok")); });
  s.listen(0, "127.0.0.1", () => require("node:fs").writeFileSync(process.argv[1], String(s.address().port)));
' "$PORTFILE" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -f "$PORTFILE"' EXIT
i=0; while [ ! -s "$PORTFILE" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
PORT=$(cat "$PORTFILE")
hyperfine -N --warmup 5 --runs "$RUNS" "$@" \
  'node -e 0' \
  "node $BIN -t host -hostuuid h -state 1 -output bench -user-id 1 -url http://127.0.0.1:$PORT/message"
